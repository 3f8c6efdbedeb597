package proctest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds for subprocesses and waits. They are deadlines for conditions, not
// assertions about speed: a healthy run meets them with a wide margin.
const (
	MaxLife     = 4 * time.Minute  // a subprocess is SIGKILLed after this, whatever happens
	StopTimeout = 30 * time.Second // SIGTERM -> exit, before SIGKILL
	PollEvery   = 100 * time.Millisecond

	dumpLines = 200 // output lines printed per stream when a test fails
)

// LogBuffer collects a subprocess's output; safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines is the output split into lines, without the final newline; nil when
// there is no output.
func (b *LogBuffer) Lines() []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// CleanEnv is the test's environment without STREAMSCORE_* variables, plus
// extra (KEY=VALUE), so a subprocess's configuration is exactly what the test
// passes.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMSCORE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Options are how Start runs a process.
type Options struct {
	Dir      string   // working directory (default: a fresh t.TempDir())
	Env      []string // extra environment, KEY=VALUE, on top of CleanEnv
	Separate bool     // keep stdout and stderr apart (default: combined in Stdout)
	Stdin    bool     // give the process a stdin pipe (Proc.Stdin); default: no input
	// MaxLife bounds the process's life (default MaxLife); the fault suite's
	// long scenarios set more.
	MaxLife time.Duration
	// StopTimeout is how long Stop and the cleanup wait after SIGTERM before
	// SIGKILL (default StopTimeout).
	StopTimeout time.Duration
	// NoDump: do not print the output when the test fails (the caller
	// prints what matters of it itself).
	NoDump bool
}

// Proc is a subprocess that the test's cleanup stops (SIGTERM, then SIGKILL)
// and whose output is printed when the test fails.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	Stdin   io.WriteCloser // nil unless started with Options.Stdin
	Stdout  *LogBuffer
	Stderr  *LogBuffer // the same buffer as Stdout unless Options.Separate
	Started time.Time  // right before the process was started

	t           testing.TB
	stopTimeout time.Duration
	done        chan struct{} // closed once Wait returned
}

// Start starts path with args. The process is bounded: SIGKILLed after
// MaxLife, and stopped in t.Cleanup if still running. It dies with the test
// binary if that is killed before its cleanups run.
func Start(t testing.TB, name string, o Options, path string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, Name: name, Stdout: &LogBuffer{}, stopTimeout: o.StopTimeout, done: make(chan struct{})}
	p.Stderr = p.Stdout
	if o.Separate {
		p.Stderr = &LogBuffer{}
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.MaxLife == 0 {
		o.MaxLife = MaxLife
	}
	if p.stopTimeout == 0 {
		p.stopTimeout = StopTimeout
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = o.Dir
	cmd.Env = CleanEnv(o.Env...)
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if o.Stdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.Stdin = w
	}
	p.Cmd = cmd
	// Registered before the stop cleanup, so it runs after it (LIFO) and
	// prints the complete output.
	t.Cleanup(func() {
		if t.Failed() && !o.NoDump {
			p.DumpOutput()
		}
	})
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s %s): %v", name, path, strings.Join(args, " "), err)
	}
	t.Logf("started %s: pid %d: %s %s", name, cmd.Process.Pid, filepath.Base(path), strings.Join(args, " "))
	killer := time.AfterFunc(o.MaxLife, func() {
		t.Errorf("%s still running after %s: SIGKILL", name, o.MaxLife)
		_ = cmd.Process.Kill()
	})
	go func() {
		_ = cmd.Wait()
		killer.Stop()
		close(p.done)
	}()
	t.Cleanup(p.StopQuietly)
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitedWithin waits up to d for the process to end and reports whether it
// did. Unlike Wait it never fails the test, so any goroutine may call it.
func (p *Proc) ExitedWithin(d time.Duration) bool {
	if p.Exited() {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// Status says how the process ended ("exit status 1", "signal: killed"), or
// "running".
func (p *Proc) Status() string {
	if !p.Exited() || p.Cmd.ProcessState == nil {
		return "running"
	}
	return p.Cmd.ProcessState.String()
}

// Signal sends sig to the process; once it has ended, that is a no-op.
func (p *Proc) Signal(sig os.Signal) {
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(sig)
	}
}

// ExitCode waits for the process to end and returns its exit status (-1:
// killed by a signal).
func (p *Proc) ExitCode() int {
	<-p.done
	if p.Cmd.ProcessState == nil {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Wait waits up to d for the process to exit by itself and returns its exit
// code; on timeout it fails the test (the cleanup kills the process).
func (p *Proc) Wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.ExitCode()
	case <-time.After(d):
		p.t.Fatalf("%s (pid %d) did not exit within %s", p.Name, p.Pid(), d)
		return -1
	}
}

// Stop sends SIGTERM and waits up to the stop timeout (Options.StopTimeout)
// for the exit; it returns the exit code, or fails the test and SIGKILLs the
// process on timeout.
func (p *Proc) Stop() int {
	p.t.Helper()
	if !p.terminate() {
		p.t.Errorf("%s (pid %d) did not exit within %s of SIGTERM; SIGKILLed", p.Name, p.Pid(), p.stopTimeout)
		return -1
	}
	return p.ExitCode()
}

// StopQuietly closes stdin (if any), then stops the process like Stop but
// without failing the test. The cleanup Start registers calls it.
func (p *Proc) StopQuietly() {
	if p.Stdin != nil {
		_ = p.Stdin.Close()
	}
	p.terminate()
}

// terminate sends SIGTERM and waits up to the stop timeout; then it SIGKILLs
// the process. It reports whether the process ended within the timeout.
func (p *Proc) terminate() bool {
	p.Signal(syscall.SIGTERM)
	if p.ExitedWithin(p.stopTimeout) {
		return true
	}
	p.Kill()
	return false
}

// Kill SIGKILLs the process (a crash, as far as it can tell) and waits until
// it is gone (the kernel ends a SIGKILLed process); it returns the exit code
// (-1 unless it had already ended).
func (p *Proc) Kill() int {
	p.Signal(syscall.SIGKILL)
	return p.ExitCode()
}

// DumpOutput logs the last lines of the process's output (stdout and stderr
// separately when they are kept apart).
func (p *Proc) DumpOutput() {
	dump := func(what string, lines []string) {
		if len(lines) > dumpLines {
			p.t.Logf("---- %s %s (last %d of %d lines)", p.Name, what, dumpLines, len(lines))
			lines = lines[len(lines)-dumpLines:]
		} else {
			p.t.Logf("---- %s %s (%d lines)", p.Name, what, len(lines))
		}
		for _, l := range lines {
			p.t.Logf("  | %s", l)
		}
	}
	if p.Stderr == p.Stdout {
		dump("output", p.Stdout.Lines())
		return
	}
	dump("stdout", p.Stdout.Lines())
	dump("stderr", p.Stderr.Lines())
}

// LogLine is the first JSON log line on the process's stderr (the service's
// slog output) whose "msg" is msg, decoded; nil while there is none.
func (p *Proc) LogLine(msg string) map[string]any {
	if l := p.logLines(msg, 1); len(l) > 0 {
		return l[0]
	}
	return nil
}

// LogLines are all the JSON log lines on the process's stderr whose "msg"
// is msg, decoded, in the order written.
func (p *Proc) LogLines(msg string) []map[string]any { return p.logLines(msg, -1) }

// logLines are the first max lines with message msg (all: max < 0).
func (p *Proc) logLines(msg string, max int) []map[string]any {
	var out []map[string]any
	for _, l := range p.Stderr.Lines() {
		if len(out) == max {
			break
		}
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
