package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal/internal/wstest"
)

// TestPageSecurityHeaders: the page and its files come with a
// Content-Security-Policy that allows only their own origin and no
// framing, and with nosniff (the browser test checks that the page runs
// under the policy with nothing blocked).
func TestPageSecurityHeaders(t *testing.T) {
	s := startChat(t, "")
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get("http://" + s.addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		switch {
		case resp.StatusCode != 200:
			t.Fatalf("GET %s: %s", path, resp.Status)
		case !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'"):
			t.Fatalf("GET %s: Content-Security-Policy %q", path, csp)
		case h.Get("X-Content-Type-Options") != "nosniff":
			t.Fatalf("GET %s: X-Content-Type-Options %q", path, h.Get("X-Content-Type-Options"))
		case h.Get("X-Frame-Options") != "DENY":
			t.Fatalf("GET %s: X-Frame-Options %q", path, h.Get("X-Frame-Options"))
		}
	}
}

// TestHTTPHeaderLimits: the chat's net/http server takes at most 8 KiB of
// request line and headers (431 beyond), as the engine's own handshake
// path does, and closes a connection whose header does not arrive in
// time.
func TestHTTPHeaderLimits(t *testing.T) {
	s := startWith(t, config{addr: "127.0.0.1:0", timing: timing{headerTimeout: 300 * time.Millisecond}})
	for _, tc := range []struct {
		header int
		status int
	}{
		{6 << 10, 200},
		{9 << 10, 431},
		{1 << 20, 431},
	} {
		status, err := rawGet(s.addr(), "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", tc.header)+"\r\n\r\n")
		if err != nil || status != tc.status {
			t.Errorf("%d bytes of header: status %d (%v), want %d", tc.header, status, err, tc.status)
		}
	}
	// Slowloris: half a header, then nothing. The server hangs up.
	c, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	began := time.Now()
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("a stalled header was not cut: %v", err)
	}
	t.Logf("a stalled header was cut after %v (limit 300ms)", time.Since(began).Round(time.Millisecond))
}

// rawGet sends req as is and returns the response's status code.
func rawGet(addr, req string) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go c.Write([]byte(req)) // the server may answer before it has read all
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestUpgradeFailuresLogged: a failed WebSocket upgrade is answered with
// its status (by shoal) and logged, at most a line a second however
// many fail, with a count of the rest.
func TestUpgradeFailuresLogged(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if line := fmt.Sprintf(format, args...); strings.Contains(line, "upgrade") {
			lines = append(lines, line)
		}
	}
	s := startWith(t, config{addr: "127.0.0.1:0", logf: logf})
	const bad = 50
	for range bad {
		// No Sec-WebSocket-Key: RFC 6455 §4.2.1 asks for 400.
		status, err := rawGet(s.addr(), "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
		if err != nil || status != http.StatusBadRequest {
			t.Fatalf("handshake without a key: %d %v, want 400", status, err)
		}
	}
	c, err := wstest.Dial(s.addr(), "/ws")
	if err != nil {
		t.Fatalf("a good handshake after the bad ones: %v", err)
	}
	c.Close()
	// The client has its answer before Upgrade returns to the handler.
	eventually(t, fmt.Sprint(bad, " failures counted"), func() bool { return s.upgradeFailures.count.Load() == bad })
	mu.Lock()
	defer mu.Unlock()
	if len(lines) == 0 || len(lines) > 2 || !strings.Contains(lines[0], "failed") {
		t.Fatalf("log lines for %d failed upgrades: %q", bad, lines)
	}
	t.Logf("%d failed upgrades, logged as %q", bad, lines)
}
