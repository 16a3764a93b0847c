package main

import (
	"embed"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed static
var static embed.FS

// The page's Content-Security-Policy: its own script, style and
// WebSocket, nothing inline, nothing from elsewhere, never in a frame.
// ('self' in connect-src covers ws:// and wss:// to the same host.)
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// HTTP limits, as the engine's own handshake path has them (the header
// timeout is timing.headerTimeout).
const (
	// net/http reads up to MaxHeaderBytes plus 4 KiB of slack for the
	// request line and headers: 8 KiB in all, codec.DefaultMaxHeaderBytes.
	maxHeaderBytes = 4 << 10
	idleTimeout    = 60 * time.Second // between keep-alive requests
)

func newHTTPServer(h http.Handler, headerTimeout time.Duration, logf func(string, ...any)) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(&throttle{logf: logf}, "", 0),
	}
}

// routes serves the page and hands /ws to shoal.
func (s *service) routes(logf func(string, ...any)) http.Handler {
	pages, _ := fs.Sub(static, "static")
	files := http.FileServerFS(pages)
	mux := http.NewServeMux()
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY") // frame-ancestors for older browsers
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	}))
	failures := &upgradeFailures{log: &throttle{logf: logf}}
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		// Upgrade has answered the client (400, 403, 503, ...) when it
		// fails; what is left is to tell the operator.
		if _, err := s.srv.Upgrade(w, r, nil); err != nil {
			failures.add(r, err)
		}
	})
	s.upgradeFailures = failures
	return mux
}

// upgradeFailures counts failed upgrades and logs them through a
// throttle, so that a flood of bad handshakes cannot flood the log.
type upgradeFailures struct {
	count atomic.Int64
	log   *throttle
}

func (u *upgradeFailures) add(r *http.Request, err error) {
	u.count.Add(1)
	u.log.printf("chat: websocket upgrade from %s failed: %v", r.RemoteAddr, err)
}

// throttle logs at most one line a second, and says how many it held
// back since the last one.
type throttle struct {
	logf func(string, ...any)

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (t *throttle) printf(format string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	if now.Sub(t.last) < time.Second {
		t.suppressed++
		t.mu.Unlock()
		return
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	t.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if n > 0 {
		line += fmt.Sprintf(" (and %d more lines like it since the last)", n)
	}
	t.logf("%s", line)
}

// Write makes a throttle the writer of a log.Logger (http.Server's
// ErrorLog: net/http logs every failed accept, a line per connection
// when the process is out of file descriptors).
func (t *throttle) Write(p []byte) (int, error) {
	t.printf("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
