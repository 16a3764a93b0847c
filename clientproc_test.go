package shoal_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal/internal/childproc"
	"github.com/shoalws/shoal/internal/wstest"
)

// Tests that need many connections hold them in a separate client
// process: this test binary run again with clientProcessEnv set. The
// parent talks to it over stdin and stdout, one line at a time.

const clientProcessEnv = "SHOAL_TEST_CLIENT_PROCESS"

// clientTLSEnv, if set in the parent's environment when it spawns the
// client process, names a CA certificate file: the clients dial wss://
// and trust that CA alone.
const clientTLSEnv = "SHOAL_TEST_CLIENT_TLS_CA"

// spawnClients starts a client process holding n connections to addr.
// mode says what they do:
//
//	hold            nothing; they stay open until stop
//	drain           each reads and discards everything it is sent
//	expect M SLOW R each reads M messages "0".."M-1" in order (anything
//	                after a space is padding), except every SLOW-th
//	                connection (SLOW > 0), which never reads; with R > 0
//	                the process prints "at N" each time every reading
//	                connection has passed another R messages
//
// The process answers "ready" once every connection is open, and for
// expect, "done" or "error: ..." when every reading connection is through.
func spawnClients(t testing.TB, addr string, n int, mode ...string) *childproc.Proc {
	t.Helper()
	if len(mode) == 0 {
		mode = []string{"hold"}
	}
	p := childproc.Start(t, clientProcessEnv+"="+strings.Join(append([]string{addr, strconv.Itoa(n)}, mode...), " "))
	if line := p.Line(30 * time.Second); line != "ready" {
		t.Fatalf("client process: %q", line)
	}
	return p
}

// runClientProcess is the client process's main.
func runClientProcess() int {
	f := strings.Fields(os.Getenv(clientProcessEnv))
	addr := f[0]
	n, _ := strconv.Atoi(f[1])
	dial := func() (*wstest.Client, error) { return wstest.Dial(addr, "/") }
	if caFile := os.Getenv(clientTLSEnv); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		dial = func() (*wstest.Client, error) { return wstest.DialTLS(addr, "/", cfg) }
	}
	conns := make([]*wstest.Client, 0, n)
	for i := 0; i < n; i++ {
		c, err := dial()
		if err != nil {
			fmt.Println("error: dial:", err)
			return 1
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	if f[2] == "drain" {
		for _, c := range conns {
			c.Conn.SetReadDeadline(time.Time{})
			go io.Copy(io.Discard, c.Conn)
		}
	}
	if f[2] == "expect" {
		m, _ := strconv.Atoi(f[3])
		slow, _ := strconv.Atoi(f[4])
		round, _ := strconv.Atoi(f[5])
		fmt.Println(expectAll(conns, m, slow, round))
	}
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// expectAll has every reading connection read m messages and check that
// they are "0".."m-1", each once, in order, reporting progress every
// round messages (if round > 0).
func expectAll(conns []*wstest.Client, m, slow, round int) string {
	var wg sync.WaitGroup
	errs := make(chan string, len(conns))
	progress := make([]atomic.Int64, len(conns))
	var readers []int
	for i, c := range conns {
		if slow > 0 && i%slow == 0 {
			continue
		}
		readers = append(readers, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Timeout = 60 * time.Second
			for want := 0; want < m; want++ {
				progress[i].Store(int64(want))
				_, msg, err := c.ReadMessage()
				if err != nil {
					errs <- fmt.Sprintf("error: conn %d at message %d: %v", i, want, err)
					return
				}
				if num, _, _ := strings.Cut(string(msg), " "); num != strconv.Itoa(want) {
					errs <- fmt.Sprintf("error: conn %d: got %.20q, want %d", i, msg, want)
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	if round > 0 {
		reportProgress(progress, readers, round, m, finished)
	}
	<-finished
	select {
	case e := <-errs:
		return e
	default:
		return "done"
	}
}

// reportProgress prints "at N" whenever the slowest reader has read N
// messages, N a multiple of round below m.
func reportProgress(progress []atomic.Int64, readers []int, round, m int, finished chan struct{}) {
	for next := round; next < m; {
		lowest := int64(m)
		for _, i := range readers {
			lowest = min(lowest, progress[i].Load())
		}
		for next < m && lowest >= int64(next) {
			fmt.Println("at", next)
			next += round
		}
		select {
		case <-finished:
			return
		case <-time.After(200 * time.Microsecond):
		}
	}
}
