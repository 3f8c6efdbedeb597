package reject

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/doctest"
)

// TestFormatsDocListsEveryReason keeps docs/formats.md's table of DLQ
// reasons and Reasons() in step: every reason documented, no other.
func TestFormatsDocListsEveryReason(t *testing.T) {
	doc, err := os.ReadFile("../docs/formats.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	cell := regexp.MustCompile("`([a-z_]+)`")
	for _, line := range doctest.TableRows(t, "docs/formats.md", string(doc), "| reason | meaning |") {
		first := strings.Split(line, "|")[1]
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			documented = append(documented, m[1])
		}
	}
	var want []string
	for _, i := range Reasons() {
		want = append(want, string(i.Reason))
	}
	slices.Sort(documented)
	slices.Sort(want)
	if !slices.Equal(documented, want) {
		t.Errorf("docs/formats.md reasons %v, want %v (reject.Reasons)", documented, want)
	}
}

func TestReasonsAreUniqueAndStaged(t *testing.T) {
	seen := map[Reason]bool{}
	for _, i := range Reasons() {
		if seen[i.Reason] || len(i.Stages) == 0 || i.Doc == "" || !regexp.MustCompile(`^[a-z_]+$`).MatchString(string(i.Reason)) {
			t.Errorf("reason %+v: want unique, snake_case, with stages and a doc line", i)
		}
		seen[i.Reason] = true
		if !Known(i.Reason) {
			t.Errorf("Known(%q) = false", i.Reason)
		}
	}
	if Known("nope") {
		t.Error(`Known("nope") = true`)
	}
}

func TestOf(t *testing.T) {
	e := &Error{Reason: WrongType, Field: "amount", Err: errors.New("a string where a number is expected")}
	if got, want := e.Error(), "wrong_type: field amount: a string where a number is expected"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		err    error
		reason Reason
		poison bool
	}{
		{nil, "", false},
		{errors.New("registry unreachable"), "", false},
		{e, WrongType, true},
		{fmt.Errorf("decode partition 3 offset 7: %w", e), WrongType, true},
	} {
		r, ok := Of(tt.err)
		if r != tt.reason || ok != tt.poison {
			t.Errorf("Of(%v) = %q, %v; want %q, %v", tt.err, r, ok, tt.reason, tt.poison)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Of(nil) }); n != 0 {
		t.Errorf("Of(nil) allocates %v times", n)
	}
}
