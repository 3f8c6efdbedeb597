// Package doctest reads the repository's Markdown docs for the tests that
// keep them in step with the code: a section under a heading, the rows of a
// table. Every miss fails the test with the file and what was looked for,
// so a renamed heading is an error, never a check that reads nothing.
//
// It is a test helper for other packages' tests; production code must not
// import it.
package doctest

import (
	"os"
	"strings"
	"testing"
)

// Section is the text of the Markdown file path under heading (a whole
// line, e.g. "## PostgreSQL sink"), up to the next heading of the same or a
// higher level. A line in a fenced code block (a shell comment "# ...") is
// no heading.
func Section(t testing.TB, path, heading string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no %q section", path, heading)
	}
	level := strings.IndexByte(heading, ' ') // the number of #
	fenced, end := false, 0
	for line := range strings.Lines(rest) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		} else if n := len(line) - len(strings.TrimLeft(line, "#")); !fenced && n >= 1 && n <= level && strings.HasPrefix(line[n:], " ") {
			return strings.TrimSuffix(rest[:end], "\n")
		}
		end += len(line)
	}
	return rest
}

// TableRows are the rows of the first table in text whose header line
// starts with header ("| reason | meaning |"), without the header and its
// |---| line, up to the first line that is not a row. what names text in the
// failure (the file, the section).
func TableRows(t testing.TB, what, text, header string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if lines == nil && !strings.HasPrefix(l, header) {
			continue
		}
		if lines != nil && !strings.HasPrefix(l, "|") {
			break
		}
		lines = append(lines, l)
	}
	if len(lines) < 2 {
		t.Fatalf("%s has no table with the header %q", what, header)
	}
	return lines[2:]
}

// Cells are the cells of a table row, trimmed; a cell that is one code span
// loses its backquotes ("| `a` | 1 |" -> ["a", "1"]).
func Cells(row string) []string {
	cells := strings.Split(strings.Trim(strings.TrimSpace(row), "|"), "|")
	for i, c := range cells {
		c = strings.TrimSpace(c)
		if len(c) >= 2 && c[0] == '`' && strings.IndexByte(c[1:], '`') == len(c)-2 {
			c = c[1 : len(c)-1]
		}
		cells[i] = c
	}
	return cells
}
