package conformance

import (
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options tune a run.
type Options struct {
	// Skip maps a case id prefix to the reason the server under test is
	// allowed to fail those cases; each is reported with t.Skip and the
	// reason. A prefix matches whole id components: "6.4" skips 6.4.1 to
	// 6.4.4 but not 6.40.1.
	Skip map[string]string
	// Timeout bounds each case, from dialing to the server closing the
	// connection. Default 10s. Cases that move 4 MiB or more get four
	// times as long: under -race, on a busy machine, they take seconds.
	Timeout time.Duration
	// Path is the request target of the WebSocket endpoint. Default "/".
	Path string
	// Parallel is how many cases run at a time. Default 4.
	Parallel int
	// Only, if set, runs just the cases whose id starts with one of these
	// prefixes (whole id components, as for Skip).
	Only []string
	// TLS, if set, runs the suite over TLS (wss://) with this client
	// configuration.
	TLS *tls.Config
}

// Case is one conformance case.
type Case struct {
	ID   string // Autobahn's case id ("1.1.1"), or "x.N" for cases beyond Autobahn
	Desc string // what the case sends and expects

	run func(s *session)
}

// Cases returns every case, in Autobahn's order, then the extra ones.
func Cases() []Case {
	return slices.Concat(
		framingCases(), pingCases(), rsvCases(), opcodeCases(),
		fragmentCases(), utf8Cases(), closeCases(),
		limitCases(), autoFragmentCases(), deflateCases(), extraCases(),
	)
}

// Run runs every case against the echo server at addr (host:port, on a
// loopback address), each as a subtest named by its case id.
func Run(t *testing.T, addr string, opts Options) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Path == "" {
		opts.Path = "/"
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if err := checkLoopback(addr); err != nil {
		t.Fatal(err)
	}
	preflight(t, addr, opts)

	// Workers call t.Run concurrently, which testing allows, rather than
	// each subtest calling t.Parallel: that would cap the run at
	// -test.parallel, GOMAXPROCS by default, 2 on a 2-core machine, while
	// cases spend most of their time waiting on the server.
	work := make(chan Case)
	var wg sync.WaitGroup
	for range opts.Parallel {
		wg.Go(func() {
			for c := range work {
				t.Run(c.ID, func(t *testing.T) { runCase(t, c, addr, opts) })
			}
		})
	}
	for _, c := range Cases() {
		if len(opts.Only) > 0 && !matchesAny(c.ID, opts.Only) {
			continue
		}
		work <- c
	}
	close(work)
	wg.Wait()
}

// runCase runs one case on a connection of its own.
func runCase(t *testing.T, c Case, addr string, opts Options) {
	t.Log(c.Desc)
	if reason, ok := skipReason(c.ID, opts.Skip); ok {
		t.Skip(reason)
	}
	s := &session{t: t, addr: addr, path: opts.Path, tls: opts.TLS, deadline: time.Now().Add(opts.Timeout)}
	defer s.finish()
	c.run(s)
}

// preflight stops the run early, with one failure instead of hundreds,
// when no WebSocket server answers at addr.
func preflight(t *testing.T, addr string, opts Options) {
	t.Helper()
	s := &session{t: t, name: "preflight", addr: addr, path: opts.Path, tls: opts.TLS, deadline: time.Now().Add(opts.Timeout)}
	defer s.finish()
	s.dial()
	s.closeNormally()
}

// slowFactor is how many times the timeout a case moving 4 MiB or more
// gets: under -race, on a busy machine, such a case takes seconds.
const slowFactor = 4

// slow returns run with a deadline slowFactor times as long.
func slow(run func(*session)) func(*session) {
	return func(s *session) {
		s.deadline = s.deadline.Add(time.Until(s.deadline) * (slowFactor - 1))
		run(s)
	}
}

// variant runs f on a connection of its own, within the case's deadline,
// for cases that try the same payload several ways.
func (s *session) variant(name string, f func(s *session)) {
	s.t.Helper()
	v := &session{t: s.t, name: name, addr: s.addr, path: s.path, tls: s.tls, deadline: s.deadline}
	defer v.finish()
	f(v)
}

// matchesAny reports whether one of prefixes covers id.
func matchesAny(id string, prefixes []string) bool {
	for _, p := range prefixes {
		if covers(id, p) {
			return true
		}
	}
	return false
}

func covers(id, prefix string) bool {
	return id == prefix || strings.HasPrefix(id, strings.TrimSuffix(prefix, ".")+".")
}

// skipReason finds the longest Skip prefix that covers id.
func skipReason(id string, skip map[string]string) (string, bool) {
	best, found := "", false
	for prefix := range skip {
		if covers(id, prefix) && (!found || len(prefix) > len(best)) {
			best, found = prefix, true
		}
	}
	return skip[best], found
}

// checkLoopback refuses any address that is not on this machine: the
// suite sends floods of malformed frames and tens of megabytes, which is
// for a server under test, never for a host somewhere else.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return &net.AddrError{Err: "conformance: not a loopback address", Addr: addr}
	}
	return nil
}
