package proctest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const limit = 30 * time.Second // every wait below ends long before this when the code works

func TestSeparateOutputAndExitCode(t *testing.T) {
	p := Start(t, "sh", Options{Separate: true}, "/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3")
	if code := p.Wait(limit); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if !p.Exited() {
		t.Fatal("Exited false after Wait")
	}
	if got := strings.Join(p.Stdout.Lines(), ","); got != "out1,out2" {
		t.Errorf("stdout lines %q", got)
	}
	if got := p.Stderr.String(); got != "err1\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestCombinedOutputEnvAndDir(t *testing.T) {
	t.Setenv("STREAMSCORE_LEAK", "yes")
	dir := t.TempDir()
	p := Start(t, "sh", Options{Dir: dir, Env: []string{"PROCTEST_X=1"}}, "/bin/sh", "-c",
		`echo "x=$PROCTEST_X leak=${STREAMSCORE_LEAK-unset}"; echo e >&2; pwd`)
	if code := p.Wait(limit); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if p.Stderr != p.Stdout {
		t.Fatal("stderr is not combined with stdout")
	}
	want := []string{"x=1 leak=unset", "e", dir}
	if got := p.Stdout.Lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestDefaultDirIsFresh(t *testing.T) {
	wd, _ := os.Getwd()
	p := Start(t, "pwd", Options{}, "/bin/sh", "-c", "pwd; ls -A | wc -l")
	if code := p.Wait(limit); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	l := p.Stdout.Lines()
	if len(l) != 2 || l[0] == wd || strings.TrimSpace(l[1]) != "0" {
		t.Errorf("output %q: want an empty directory other than %s", l, wd)
	}
}

func TestStdin(t *testing.T) {
	p := Start(t, "cat", Options{Stdin: true}, "/bin/cat")
	if _, err := io.WriteString(p.Stdin, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if err := p.Stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(limit); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if got := p.Stdout.String(); got != "hello\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestStop(t *testing.T) {
	p := Start(t, "sleep", Options{}, "/bin/sleep", "600")
	if p.Exited() {
		t.Fatal("sleep exited at once")
	}
	if code := p.Stop(); code != -1 {
		t.Errorf("Stop: exit code %d, want -1 (killed by SIGTERM)", code)
	}
	if !p.Exited() {
		t.Error("Exited false after Stop")
	}
	// Stopping again (as the cleanup does) is a no-op with the same result.
	if code := p.Stop(); code != -1 {
		t.Errorf("second Stop: %d", code)
	}
}

func TestStopHandledSIGTERM(t *testing.T) {
	// The shell announces the trap is set, then exits 0 on SIGTERM.
	p := Start(t, "sh", Options{}, "/bin/sh", "-c", `trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	Eventually(t, limit, "trap set", func() error {
		if p.Stdout.String() != "ready\n" {
			return errors.New("not ready")
		}
		return nil
	}, p)
	if code := p.Stop(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestCleanupStops(t *testing.T) {
	var p *Proc
	t.Run("inner", func(t *testing.T) {
		p = Start(t, "sleep", Options{}, "/bin/sleep", "600")
	})
	// The subtest's cleanup ran when it returned.
	if !p.Exited() {
		t.Fatal("process still running after its test's cleanup")
	}
}

func TestKillAndSignal(t *testing.T) {
	for _, c := range []struct {
		name   string
		end    func(p *Proc) int
		status string
	}{
		{"Kill", (*Proc).Kill, "signal: killed"},
		{"Signal", func(p *Proc) int {
			p.Signal(syscall.SIGTERM)
			if !p.ExitedWithin(limit) {
				t.Fatalf("not ended within %s of SIGTERM", limit)
			}
			return p.ExitCode()
		}, "signal: terminated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Start(t, "sleep", Options{}, "/bin/sleep", "600")
			if got := p.Status(); got != "running" {
				t.Errorf("Status before the end = %q, want running", got)
			}
			if p.ExitedWithin(0) {
				t.Fatal("ExitedWithin(0) true for a running sleep")
			}
			if code := c.end(p); code != -1 {
				t.Errorf("exit code %d, want -1 (a signal)", code)
			}
			if got := p.Status(); got != c.status {
				t.Errorf("Status = %q, want %q", got, c.status)
			}
			// Once ended, both are no-ops with the same result.
			p.Signal(syscall.SIGTERM)
			if code := p.Kill(); code != -1 || !p.ExitedWithin(0) {
				t.Errorf("after the end: Kill %d, ExitedWithin(0) %v", code, p.ExitedWithin(0))
			}
		})
	}
}

func TestStopTimeoutThenSIGKILL(t *testing.T) {
	// The shell ignores SIGTERM, so only the SIGKILL after StopTimeout ends it.
	p := Start(t, "sh", Options{StopTimeout: 50 * time.Millisecond}, "/bin/sh", "-c",
		`trap '' TERM; echo ready; while :; do sleep 0.05; done`)
	Eventually(t, limit, "trap set", func() error {
		if p.Stdout.String() != "ready\n" {
			return errors.New("not ready")
		}
		return nil
	}, p)
	p.StopQuietly()
	if got := p.Status(); got != "signal: killed" {
		t.Errorf("Status = %q, want signal: killed", got)
	}
}

// errorTB records Errorf calls (from any goroutine) instead of failing the test.
type errorTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (e *errorTB) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
}

func TestMaxLife(t *testing.T) {
	tb := &errorTB{TB: t}
	p := Start(tb, "sleep", Options{MaxLife: 50 * time.Millisecond}, "/bin/sleep", "600")
	if !p.ExitedWithin(limit) {
		t.Fatalf("sleep still running %s after its MaxLife", limit)
	}
	if got := p.Status(); got != "signal: killed" {
		t.Errorf("Status = %q, want signal: killed", got)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if want := "sleep still running after 50ms: SIGKILL"; len(tb.msgs) != 1 || tb.msgs[0] != want {
		t.Errorf("errors %q, want [%q]", tb.msgs, want)
	}
}

// fatalTB records a Fatalf instead of failing the test; like testing.T it
// ends the goroutine.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runFatal runs fn with a fatalTB in its own goroutine and returns the Fatalf
// message ("" when fn returned normally).
func runFatal(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatal("Eventually did not return")
	}
	return f.msg
}

func TestEventually(t *testing.T) {
	n := 0
	msg := runFatal(t, func(tb testing.TB) {
		Eventually(tb, limit, "third time", func() error {
			if n++; n < 3 {
				return fmt.Errorf("try %d", n)
			}
			return nil
		})
	})
	if msg != "" || n != 3 {
		t.Errorf("msg %q after %d tries, want none after 3", msg, n)
	}

	msg = runFatal(t, func(tb testing.TB) {
		Eventually(tb, 0, "never", func() error { return errors.New("still no") })
	})
	if want := "never: not within 0s; last: still no"; msg != want {
		t.Errorf("msg %q, want %q", msg, want)
	}
}

func TestEventuallyWatchedExit(t *testing.T) {
	p := Start(t, "exit7", Options{}, "/bin/sh", "-c", "exit 7")
	start := time.Now()
	msg := runFatal(t, func(tb testing.TB) {
		Eventually(tb, 10*limit, "never", func() error { return errors.New("not yet") }, p)
	})
	if want := "never: exit7 exited (code 7) while waiting; last: not yet"; msg != want {
		t.Errorf("msg %q, want %q", msg, want)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("Eventually took %s: it did not stop at the exit", d)
	}
}

func TestLogLine(t *testing.T) {
	p := Start(t, "sh", Options{Separate: true}, "/bin/sh", "-c",
		`echo '{"msg":"streamscore running","http":"on stdout"}'; echo 'not json' >&2; `+
			`echo '{"msg":"other"}' >&2; echo '{"msg":"streamscore running","http":"127.0.0.1:1"}' >&2; `+
			`echo '{"msg":"streamscore running","http":"second"}' >&2`)
	if code := p.Wait(limit); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if got := p.LogLine("streamscore running"); got["http"] != "127.0.0.1:1" {
		t.Errorf(`LogLine("streamscore running") = %v, want the first such line on stderr`, got)
	}
	if got := p.LogLine("absent"); got != nil {
		t.Errorf(`LogLine("absent") = %v, want nil`, got)
	}
	var got []any
	for _, l := range p.LogLines("streamscore running") {
		got = append(got, l["http"])
	}
	if want := []any{"127.0.0.1:1", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf(`LogLines("streamscore running") http = %v, want %v (stderr only, in order)`, got, want)
	}
	if got := p.LogLines("absent"); got != nil {
		t.Errorf(`LogLines("absent") = %v, want nil`, got)
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{{"a\nb\nc\n", 2, "b\nc"}, {"a\nb", 5, "a\nb"}, {"", 1, ""}} {
		if got := LastLines(c.s, c.n); got != c.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestRepoRootAndBinary(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "proctest", "doc.go")); err != nil {
		t.Fatalf("RepoRoot %s: %v", root, err)
	}

	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("fake-bin", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STREAMSCORE_TEST_BIN", "fake-bin")
	bin, cleanup, err := Binary(root)
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if want := filepath.Join(dir, "fake-bin"); bin != want {
		t.Errorf("Binary = %s, want %s", bin, want)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Errorf("cleanup removed STREAMSCORE_TEST_BIN: %v", err)
	}

	t.Setenv("STREAMSCORE_TEST_BIN", "missing")
	if _, _, err := Binary(root); err == nil || !strings.Contains(err.Error(), "STREAMSCORE_TEST_BIN=missing") {
		t.Errorf("missing STREAMSCORE_TEST_BIN: err %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	got, err := ConfigYAML(map[string]any{"input.topic": "in", "input.group": "g", "kafka.sasl.username": "u", "log": "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := "input:\n    group: g\n    topic: in\nkafka:\n    sasl:\n        username: u\nlog: x\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
