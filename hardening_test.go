package shoal_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// TestListenPortExclusive: a port a server listens on is its alone by
// default: a second server, or any other socket, fails to bind it with
// "address already in use"; with ReusePort on both, sharing is explicit.
func TestListenPortExclusive(t *testing.T) {
	_, addr := start(t, shoal.Config{})
	second, err := shoal.New(shoal.Config{Addr: addr, Handler: echo()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Shutdown(t.Context()) })
	if _, err := second.Listen(); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on a busy port: %v, want EADDRINUSE", err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatal("another socket could bind the server's port")
	}
	// A port held by something else refuses the server too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	third, err := shoal.New(shoal.Config{Addr: ln.Addr().String(), Handler: echo()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { third.Shutdown(t.Context()) })
	if _, err := third.Listen(); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen on a port net.Listen holds: %v, want EADDRINUSE", err)
	}

	// Explicit sharing: both with ReusePort.
	_, shared := start(t, shoal.Config{ReusePort: true})
	other, err := shoal.New(shoal.Config{Addr: shared, ReusePort: true, Handler: echo()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Shutdown(t.Context()) })
	if _, err := other.Listen(); err != nil {
		t.Fatalf("ReusePort servers cannot share: %v", err)
	}
	roundTrip(t, dial(t, shared), codec.OpText, []byte("either one answers"))
}

// TestSharedListenerServesEveryShard: with one socket shared by the
// shards, connections are accepted and served, and Shutdown closes it.
func TestSharedListenerServesEveryShard(t *testing.T) {
	srv, addr := start(t, shoal.Config{Shards: 3})
	for i := 0; i < 30; i++ {
		roundTrip(t, dial(t, addr), codec.OpText, []byte(fmt.Sprint(i)))
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The port is free again once the server is gone.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Shutdown: %v", err)
	}
	ln.Close()
}

const handshakeWithBody = "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n"

// TestHandshakeWithBodyRefused: a handshake that announces a body is
// refused with 400 on both paths: its body would be read as frames.
func TestHandshakeWithBodyRefused(t *testing.T) {
	var srv *shoal.Server
	listenAddr := startRef(t, &srv, shoal.Config{})
	httpAddr := serveHTTP(t, httpMux(t, srv))
	for _, body := range []string{"Content-Length: 6\r\n\r\n\x81\x80abcd", "Transfer-Encoding: chunked\r\n\r\n6\r\n\x81\x80abcd\r\n0\r\n"} {
		for path, addr := range map[string]string{"Listen": listenAddr, "Upgrade": httpAddr} {
			target := "/"
			if path == "Upgrade" {
				target = "/ws"
			}
			req := strings.Replace(fmt.Sprintf(handshakeWithBody, addr, body), "GET / ", "GET "+target+" ", 1)
			got := rawExchange(t, addr, req)
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
				t.Errorf("%s, %q: answered %q, want 400", path, body[:20], got)
			}
		}
	}
}

// TestUpgradeSendsResponseHeaders: header fields the handler set before
// Upgrade (a cookie) go out with the 101; the handshake's own fields
// cannot be overridden, and a value cannot inject a line.
func TestUpgradeSendsResponseHeaders(t *testing.T) {
	var srv *shoal.Server
	startRef(t, &srv, shoal.Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cret"})
		w.Header().Set("X-Served-By", "node-7")
		w.Header().Set("Upgrade", "h2c")
		w.Header().Set("X-Evil", "a\r\nInjected: yes")
		srv.Upgrade(w, r, nil)
	})
	addr := serveHTTP(t, mux)
	c := rawConn(t, addr)
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	resp := readResponse(t, c)
	for _, want := range []string{"HTTP/1.1 101 ", "\r\nSet-Cookie: session=s3cret\r\n", "\r\nX-Served-By: node-7\r\n", "\r\nUpgrade: websocket\r\n"} {
		if !strings.Contains(resp.head, want) {
			t.Errorf("101 lacks %q:\n%s", want, resp.head)
		}
	}
	for _, bad := range []string{"h2c", "Injected", "X-Evil"} {
		if strings.Contains(resp.head, bad) {
			t.Errorf("101 carries %q:\n%s", bad, resp.head)
		}
	}
	roundTrip(t, resp.client, codec.OpText, []byte("served"))
}

// TestUpgradeRefusesTLSBefore101: net/http's own TLS connections cannot
// be taken over; the client learns it from a status, never from a 101
// followed by a dropped connection.
func TestUpgradeRefusesTLSBefore101(t *testing.T) {
	var srv *shoal.Server
	startRef(t, &srv, shoal.Config{})
	upgradeErr := make(chan error, 1)
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := srv.Upgrade(w, r, nil)
		upgradeErr <- err
	}))
	defer hs.Close()
	c, err := tls.Dial("tcp", hs.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 501 ") {
		t.Fatalf("TLS upgrade answered %q, want 501", line)
	}
	if err := <-upgradeErr; !errors.Is(err, shoal.ErrCannotTakeOver) {
		t.Fatalf("Upgrade returned %v, want ErrCannotTakeOver", err)
	}
}

// TestUpgradeOutOfFilesNothingPromised: under a file-descriptor limit, a
// burst of handshakes through net/http and Upgrade either gets a 101 and
// is served, or is refused before any 101 (503 with Retry-After, or no
// answer while the listener backs off). None gets 101 and then loses its
// connection, which is what happened when the socket was duplicated
// after the 101 was written.
func TestUpgradeOutOfFilesNothingPromised(t *testing.T) {
	s := startServerProcess(t, "http=1", "nofile=96")
	const n = 150
	type result struct {
		status string
		err    error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	var hold sync.WaitGroup
	hold.Add(1)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, c, err := tryHandshake(s.addr)
			if c != nil {
				defer c.Close()
			}
			if status == "101" {
				// Promised: it must be served, while every other
				// connection is still held open.
				c.Timeout = 10 * time.Second
				msg := []byte("are you there")
				if err = c.WriteFrame(codec.OpText, true, msg); err == nil {
					var got []byte
					if _, got, err = c.ReadMessage(); err == nil && string(got) != string(msg) {
						err = fmt.Errorf("echo %q", got)
					}
				}
			}
			results <- result{status, err}
			hold.Wait()
		}()
	}
	go func() {
		for len(results) < n {
			time.Sleep(10 * time.Millisecond)
		}
		hold.Done()
	}()
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for r := range results {
		if r.status == "101" && r.err != nil {
			t.Errorf("got 101, then: %v", r.err)
		}
		counts[r.status]++
	}
	t.Logf("%d handshakes under a limit of 96 files: %v", n, counts)
	if counts["101"] == 0 || counts["101"] == n {
		t.Fatalf("answers %v: the limit was not reached, or nothing was served", counts)
	}
}

// tryHandshake sends an opening handshake and reads the status code: "101"
// with a client to go on with, "503" (checked for Retry-After), or
// "none" when the connection ended or timed out before any answer.
func tryHandshake(addr string) (string, *wstest.Client, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "none", nil, nil
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			if head.Len() > 0 {
				return "partial", nil, fmt.Errorf("answer cut short: %q", head.String())
			}
			return "none", nil, nil
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	h := head.String()
	switch {
	case strings.HasPrefix(h, "HTTP/1.1 101 "):
		c.SetDeadline(time.Time{})
		return "101", wstest.FromReader(c, br), nil
	case strings.HasPrefix(h, "HTTP/1.1 503 "):
		c.Close()
		if !strings.Contains(h, "\r\nRetry-After: ") {
			return "503", nil, fmt.Errorf("503 without Retry-After: %q", h)
		}
		return "503", nil, nil
	}
	c.Close()
	return h[:min(len(h), 12)], nil, nil
}

// TestMessageTimeout: a peer that begins a message, or only a frame
// header, and stops is closed with 1008 when MessageTimeout has passed;
// one that keeps going is not.
func TestMessageTimeout(t *testing.T) {
	srv, addr := start(t, shoal.Config{MessageTimeout: 300 * time.Millisecond})
	for name, partial := range map[string][]byte{
		"half a message": wstest.Build(codec.OpText, false, []byte("the start of a long story")),
		"half a frame":   wstest.Build(codec.OpBinary, true, make([]byte, 1000))[:500],
		"half a header":  {0x82},
	} {
		c := dial(t, addr)
		if err := c.WriteRaw(partial); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		code, err := c.ExpectClose()
		if code != codec.StatusPolicy {
			t.Fatalf("%s: closed with %v (%v), want 1008", name, code, err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("%s: closed after %v, before the deadline", name, d)
		}
	}
	if srv.Stats().MessageTimeouts != 3 {
		t.Fatalf("MessageTimeouts = %d, want 3", srv.Stats().MessageTimeouts)
	}
	// A message finished within the deadline, fragment by fragment.
	c := dial(t, addr)
	c.WriteFrame(codec.OpText, false, []byte("slow "))
	time.Sleep(100 * time.Millisecond)
	c.WriteFrame(codec.OpContinuation, true, []byte("but in time"))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "slow but in time" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// TestWriteTimeout: a peer that stops reading while the server has output
// for it is dropped once its output has not moved for WriteTimeout.
func TestWriteTimeout(t *testing.T) {
	closed := make(chan error, 1)
	opened := make(chan *shoal.Conn, 1)
	srv, addr := start(t, shoal.Config{WriteTimeout: 300 * time.Millisecond, Handler: shoal.HandlerFuncs{
		Open:  func(c *shoal.Conn) { opened <- c },
		Close: func(c *shoal.Conn, err error) { closed <- err },
	}})
	client := dial(t, addr)
	c := <-opened
	go func() {
		// Until the kernel's buffers and the queue are full, and on.
		payload := make([]byte, 64<<10)
		for {
			if err := c.Send(shoal.Binary, payload); errors.Is(err, shoal.ErrClosed) {
				return
			} else if err != nil {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case err := <-closed:
		if !errors.Is(err, shoal.ErrWriteTimeout) {
			t.Fatalf("OnClose(%v), want ErrWriteTimeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a peer that never reads was not dropped")
	}
	if srv.Stats().WriteTimeouts != 1 {
		t.Fatalf("WriteTimeouts = %d", srv.Stats().WriteTimeouts)
	}
	client.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, client.Conn); err != nil {
		t.Fatalf("the dropped connection did not end: %v", err)
	}
}

// TestInboundBytesPauseReading: messages waiting for a blocked handler
// are bounded by memory as well as by count: large ones stop the reading
// long before 64 are queued, and all of them arrive, in order, once the
// handler is free.
func TestInboundBytesPauseReading(t *testing.T) {
	release := make(chan struct{})
	got := make(chan int, 100)
	srv, addr := start(t, shoal.Config{MaxInbound: 256 << 10, Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			<-release
			got <- len(m.Data)
			got <- int(m.Data[0])
		},
	}})
	c := dial(t, addr)
	const n = 40
	go func() {
		for i := 0; i < n; i++ {
			msg := make([]byte, 60<<10)
			msg[0] = byte(i)
			if c.WriteFrame(codec.OpBinary, true, msg) != nil {
				return
			}
		}
	}()
	waitFor(t, func() bool { return srv.Stats().PausedReads > 0 })
	close(release)
	for i := 0; i < n; i++ {
		if size := <-got; size != 60<<10 {
			t.Fatalf("message %d has %d bytes", i, size)
		}
		if idx := <-got; idx != i {
			t.Fatalf("message %d arrived as %d", i, idx)
		}
	}
}
