// Package childproc runs the current test binary again as a helper
// process, for tests that need more connections than one process should
// hold: the parent keeps only its server's sockets, the child the
// clients'. The two talk one line at a time: the child writes lines to
// stdout, and reads its stdin until it closes, which means "stop".
//
// A test binary using it checks Env in its TestMain and, when set, runs
// the child's code instead of the tests.
package childproc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Proc is a running child process. Its methods belong to the test's
// goroutine.
type Proc struct {
	tb      testing.TB
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Reader
	stopped bool
}

// Start runs this test binary again, running no tests, with env (a
// "NAME=value" the child's TestMain looks for) added to its environment.
// The child is stopped when the test ends.
func Start(tb testing.TB, env string) *Proc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Proc{tb: tb, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	tb.Cleanup(p.Stop)
	return p
}

// Pid is the child's process id, for reading its /proc entries.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Send writes one line to the child's stdin.
func (p *Proc) Send(line string) {
	p.tb.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.tb.Fatalf("writing to the child process: %v", err)
	}
}

// Line returns the child's next line, trimmed, or fails the test (and
// kills the child) if none comes within d. A child that exited reads as
// "exited: <error>".
func (p *Proc) Line(d time.Duration) string {
	p.tb.Helper()
	got := make(chan string, 1)
	go func() {
		l, err := p.out.ReadString('\n')
		if err != nil {
			l = "exited: " + err.Error()
		}
		got <- strings.TrimSpace(l)
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(d):
		p.cmd.Process.Kill()
		p.tb.Fatalf("child process silent for %v", d)
		return ""
	}
}

// Stop closes the child's stdin and waits for it to exit, killing it
// after 30 s. Calling it again does nothing.
func (p *Proc) Stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	p.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-exited
	}
}
