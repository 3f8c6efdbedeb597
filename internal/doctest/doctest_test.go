package doctest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const doc = `# T

## A
a text
### A.1
a.1 text
| k | v |
|---|---|
| x | 1 |
| y | 2 |
after the table
` + "```sh\n# a comment, not a heading\n```" + `
## B
b text
`

func TestSectionAndTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ heading, want string }{
		{"## A", "a text\n### A.1\na.1 text\n| k | v |\n|---|---|\n| x | 1 |\n| y | 2 |\nafter the table\n```sh\n# a comment, not a heading\n```"},
		{"### A.1", "a.1 text\n| k | v |\n|---|---|\n| x | 1 |\n| y | 2 |\nafter the table\n```sh\n# a comment, not a heading\n```"},
		{"## B", "b text\n"},
	} {
		if got := Section(t, path, tc.heading); got != tc.want {
			t.Errorf("Section(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
	rows := TableRows(t, "doc", Section(t, path, "### A.1"), "| k | v |")
	if want := []string{"| x | 1 |", "| y | 2 |"}; !reflect.DeepEqual(rows, want) {
		t.Errorf("TableRows = %q, want %q", rows, want)
	}
}

func TestCells(t *testing.T) {
	for _, tc := range []struct {
		row  string
		want []string
	}{
		{"| `a` | 1 |", []string{"a", "1"}},
		{"| `x.y` | `\"\"` | the `z` key |", []string{"x.y", `""`, "the `z` key"}},
		{"| `a`, `b` | |", []string{"`a`, `b`", ""}},
	} {
		if got := Cells(tc.row); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cells(%q) = %q, want %q", tc.row, got, tc.want)
		}
	}
}
