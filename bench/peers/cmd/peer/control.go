package main

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// serveControl answers the benchmark runner's queries, one line each,
// until in ends. The runner cannot see another process's goroutines, so
// the peer reports them itself:
//
//	stats [id]   →   stats [id=<id>] goroutines=<n>
//	gc [id]      →   the same, after a garbage collection that returns
//	                 free memory to the OS (debug.FreeOSMemory): for
//	                 memory figures that count what is live, not what a
//	                 pool kept from a burst
//
// The id, any token without spaces, comes back as it was sent, so the
// runner can tell an answer from a late one to an earlier query. Any
// other line is answered "error unknown command", so a typo shows
// rather than hangs.
func serveControl(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if _, err := io.WriteString(out, answer(sc.Text())); err != nil {
			return err
		}
	}
	return sc.Err()
}

// answer is the reply to one control line, newline included.
func answer(line string) string {
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return "error empty command\n"
	case f[0] == "gc" && len(f) <= 2:
		debug.FreeOSMemory()
		f[0] = "stats"
		return answer(strings.Join(f, " "))
	case f[0] == "stats" && len(f) == 1:
		return fmt.Sprintf("stats goroutines=%d\n", runtime.NumGoroutine())
	case f[0] == "stats" && len(f) == 2:
		return fmt.Sprintf("stats id=%s goroutines=%d\n", f[1], runtime.NumGoroutine())
	}
	return fmt.Sprintf("error unknown command %q\n", line)
}
