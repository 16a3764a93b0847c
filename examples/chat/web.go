package main

import (
	"embed"
	"io/fs"
	"net/http"
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

func newHTTPServer(h http.Handler, headerTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
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
	failures := &upgradeFailures{logf: logf}
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

// upgradeFailures logs failed upgrades, at most one line a second with
// a count of the rest, so that a flood of bad handshakes cannot flood
// the log.
type upgradeFailures struct {
	logf  func(string, ...any)
	count atomic.Int64

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (u *upgradeFailures) add(r *http.Request, err error) {
	u.count.Add(1)
	u.mu.Lock()
	now := time.Now()
	if now.Sub(u.last) < time.Second {
		u.suppressed++
		u.mu.Unlock()
		return
	}
	n := u.suppressed
	u.last, u.suppressed = now, 0
	u.mu.Unlock()
	if n > 0 {
		u.logf("chat: websocket upgrade from %s failed: %v (and %d more since the last report)", r.RemoteAddr, err, n)
	} else {
		u.logf("chat: websocket upgrade from %s failed: %v", r.RemoteAddr, err)
	}
}
