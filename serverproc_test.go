package shoal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/internal/childproc"
)

// Tests that measure a server's memory run it in a separate process: this
// test binary run again with serverProcessEnv set, so that its resident
// memory is the server's alone and the clients' buffers do not count. The
// parent reads the child's RSS from /proc and asks for its Stats over
// stdin ("stats" answers one JSON line).

const serverProcessEnv = "SHOAL_TEST_SERVER_PROCESS"

// serverProc is a server running in a child process.
type serverProc struct {
	t    testing.TB
	proc *childproc.Proc
	addr string
}

// startServerProcess runs an echo server (inline handlers) in a child
// process. Options, as "name=value": maxmsg, maxpartial, msgtimeout,
// writetimeout (durations), nofile (an RLIMIT_NOFILE for the child), and
// http=1 to serve through net/http and Upgrade instead of Listen.
func startServerProcess(t testing.TB, opts ...string) *serverProc {
	t.Helper()
	p := childproc.Start(t, serverProcessEnv+"="+strings.Join(opts, " "))
	line := p.Line(30 * time.Second)
	addr, ok := strings.CutPrefix(line, "addr ")
	if !ok {
		t.Fatalf("server process: %q", line)
	}
	return &serverProc{t: t, proc: p, addr: addr}
}

// rss is the child's resident memory in bytes.
func (s *serverProc) rss() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.proc.Pid()))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib << 10
		}
	}
	s.t.Fatal("no VmRSS in /proc status")
	return 0
}

// stats asks the child for its server's Stats.
func (s *serverProc) stats() shoal.Stats {
	s.t.Helper()
	s.proc.Send("stats")
	var st shoal.Stats
	if line := s.proc.Line(10 * time.Second); json.Unmarshal([]byte(line), &st) != nil {
		s.t.Fatalf("server process stats: %q", line)
	}
	return st
}

// runServerProcess is the server process's main.
func runServerProcess() int {
	opts := map[string]string{}
	for _, f := range strings.Fields(os.Getenv(serverProcessEnv)) {
		k, v, _ := strings.Cut(f, "=")
		opts[k] = v
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(opts[k], 10, 64); return n }
	dur := func(k string) time.Duration { d, _ := time.ParseDuration(opts[k]); return d }
	if n := num("nofile"); n > 0 {
		var lim syscall.Rlimit
		setLimit(&lim.Cur, n)
		setLimit(&lim.Max, n)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Println("error: setrlimit:", err)
			return 1
		}
	}
	srv, err := shoal.New(shoal.Config{
		Addr:            "127.0.0.1:0",
		Inline:          true,
		MaxMessageSize:  num("maxmsg"),
		MaxPartialBytes: num("maxpartial"),
		MessageTimeout:  dur("msgtimeout"),
		WriteTimeout:    dur("writetimeout"),
		Handler: shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
			if c.Send(m.Type, m.Data) == shoal.ErrOutboundFull {
				c.Close(shoal.StatusPolicyViolation, "not reading")
			}
		}},
	})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	var addr net.Addr
	if opts["http"] == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			srv.Upgrade(w, r, nil)
		})}
		go hs.Serve(ln)
		addr = ln.Addr()
	} else if addr, err = srv.Listen(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("addr", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			b, _ := json.Marshal(srv.Stats())
			fmt.Println(string(b))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return 0
}

// setLimit sets an rlimit field, which is a uint64 on Linux and macOS and
// an int64 on FreeBSD, so that this file builds on both.
func setLimit[T ~int64 | ~uint64](field *T, n int64) { *field = T(n) }
