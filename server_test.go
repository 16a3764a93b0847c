package shoal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// start runs a server on a loopback port chosen by the kernel and shuts
// it down when the test ends.
func start(t *testing.T, cfg shoal.Config) (*shoal.Server, string) {
	t.Helper()
	var srv *shoal.Server
	addr := startRef(t, &srv, cfg)
	return srv, addr
}

// startRef is start for handlers that use the server: *srv is set before
// the server listens, which orders it before every handler call.
func startRef(t *testing.T, srv **shoal.Server, cfg shoal.Config) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Handler == nil {
		cfg.Handler = echo()
	}
	s, err := shoal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	*srv = s
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, shoal.ErrServerClosed) {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return addr.String()
}

func echo() shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) }}
}

func dial(t *testing.T, addr string) *wstest.Client {
	t.Helper()
	c, err := wstest.Dial(addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one message and checks it comes back unchanged.
func roundTrip(t *testing.T, c *wstest.Client, op codec.Opcode, payload []byte) {
	t.Helper()
	if err := c.WriteFrame(op, true, payload); err != nil {
		t.Fatal(err)
	}
	gotOp, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading the echo of %d bytes: %v", len(payload), err)
	}
	if gotOp != op || !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes %v came back as %d bytes %v", len(payload), op, len(got), gotOp)
	}
}

func TestEchoSizes(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			_, addr := start(t, shoal.Config{Inline: inline, Shards: 2})
			c := dial(t, addr)
			for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
				roundTrip(t, c, codec.OpBinary, bytes.Repeat([]byte{byte(n)}, n))
				roundTrip(t, c, codec.OpText, bytes.Repeat([]byte("é"), n/2))
			}
		})
	}
}

func TestFragmentedAndChunked(t *testing.T) {
	_, addr := start(t, shoal.Config{})
	c := dial(t, addr)
	// Three fragments with a ping in between, the whole sent 3 bytes a write.
	var wire []byte
	wire = append(wire, wstest.Build(codec.OpText, false, []byte("Hello, "))...)
	wire = append(wire, wstest.Build(codec.OpPing, true, []byte("mid"))...)
	wire = append(wire, wstest.Build(codec.OpContinuation, false, []byte("wor"))...)
	wire = append(wire, wstest.Build(codec.OpContinuation, true, []byte("ld \xf0\x9f\x98\x80"))...)
	if err := c.WriteChunked(wire, 3); err != nil {
		t.Fatal(err)
	}
	f, err := c.ReadFrame()
	if err != nil || f.Op != codec.OpPong || string(f.Payload) != "mid" {
		t.Fatalf("first frame back %+v %v, want the pong", f.Header, err)
	}
	op, msg, err := c.ReadMessage()
	if err != nil || op != codec.OpText || string(msg) != "Hello, world 😀" {
		t.Fatalf("got %v %q %v", op, msg, err)
	}
}

// TestActorOrder: every connection's handler calls come as OnOpen, its
// messages in order, OnClose once, never two at a time.
func TestActorOrder(t *testing.T) {
	var mu sync.Mutex
	events := map[uint64][]string{}
	busy := map[uint64]bool{}
	record := func(c *shoal.Conn, e string) {
		mu.Lock()
		defer mu.Unlock()
		if busy[c.ID()] {
			t.Errorf("conn %d: handler calls overlap", c.ID())
		}
		busy[c.ID()] = true
		events[c.ID()] = append(events[c.ID()], e)
		busy[c.ID()] = false
	}
	closed := make(chan struct{}, 100)
	_, addr := start(t, shoal.Config{Shards: 2, Workers: 4, Handler: shoal.HandlerFuncs{
		Open:    func(c *shoal.Conn) { record(c, "open") },
		Message: func(c *shoal.Conn, m shoal.Message) { record(c, string(m.Data)) },
		Close:   func(c *shoal.Conn, err error) { record(c, "close"); closed <- struct{}{} },
	}})
	const conns, msgs = 20, 200
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := wstest.Dial(addr, "/")
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			var wire []byte
			for j := 0; j < msgs; j++ {
				wire = append(wire, wstest.Build(codec.OpText, true, []byte(fmt.Sprint(j)))...)
			}
			wire = append(wire, wstest.Build(codec.OpClose, true, []byte{0x03, 0xe8})...)
			c.WriteRaw(wire)
			if code, err := c.ExpectClose(); err != nil || code != 1000 {
				t.Errorf("close: %v %v", code, err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < conns; i++ {
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("OnClose missing")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, ev := range events {
		want := []string{"open"}
		for j := 0; j < msgs; j++ {
			want = append(want, fmt.Sprint(j))
		}
		want = append(want, "close")
		if strings.Join(ev, ",") != strings.Join(want, ",") {
			t.Fatalf("conn %d saw %v...", id, ev[:min(len(ev), 5)])
		}
	}
}

// TestConcurrentSendsKeepPerGoroutineOrder: many goroutines send to one
// connection; each one's messages arrive in its order.
func TestConcurrentSendsKeepPerGoroutineOrder(t *testing.T) {
	const senders, each = 16, 500
	opened := make(chan *shoal.Conn, 1)
	_, addr := start(t, shoal.Config{Shards: 2, MaxOutbound: 64 << 20, Handler: shoal.HandlerFuncs{
		Open: func(c *shoal.Conn) { opened <- c },
	}})
	c := dial(t, addr)
	sc := <-opened
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := sc.Send(shoal.Text, []byte(fmt.Sprintf("%d:%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	for n := 0; n < senders*each; n++ {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		var g, i int
		fmt.Sscanf(string(msg), "%d:%d", &g, &i)
		if i != next[g] {
			t.Fatalf("sender %d: got %d, want %d", g, i, next[g])
		}
		next[g]++
	}
	wg.Wait()
}

func TestPeerCloseReachesOnClose(t *testing.T) {
	got := make(chan error, 1)
	_, addr := start(t, shoal.Config{Handler: shoal.HandlerFuncs{Close: func(c *shoal.Conn, err error) { got <- err }}})
	c := dial(t, addr)
	c.WriteFrame(codec.OpClose, true, append([]byte{0x0F, 0xA0}, "bye"...)) // 4000
	if code, err := c.ExpectClose(); err != nil || code != 4000 {
		t.Fatalf("echoed close %v %v", code, err)
	}
	var ce *shoal.CloseError
	if err := <-got; !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
		t.Fatalf("OnClose err = %v", err)
	}
}

func TestServerCloseAndSendAfterClose(t *testing.T) {
	opened := make(chan *shoal.Conn, 1)
	closed := make(chan error, 1)
	_, addr := start(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Open:  func(c *shoal.Conn) { opened <- c },
		Close: func(c *shoal.Conn, err error) { closed <- err },
	}})
	c := dial(t, addr)
	sc := <-opened
	sc.Send(shoal.Text, []byte("before"))
	if err := sc.Close(4001, "kicked"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(shoal.Text, []byte("after")); !errors.Is(err, shoal.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := sc.Close(4002, "again"); !errors.Is(err, shoal.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil || string(msg) != "before" {
		t.Fatalf("got %q %v, want the message sent before Close", msg, err)
	}
	f, err := c.ReadFrame()
	if err != nil || f.Op != codec.OpClose {
		t.Fatalf("got %+v %v, want the close frame", f.Header, err)
	}
	c.WriteFrame(codec.OpClose, true, f.Payload)
	if err := c.ExpectEOF(); err != nil {
		t.Fatal(err)
	}
	var ce *shoal.CloseError
	if err := <-closed; !errors.As(err, &ce) || ce.Code != 4001 {
		t.Fatalf("OnClose err = %v", err)
	}
}

func TestSubprotocolAndOrigin(t *testing.T) {
	opened := make(chan *shoal.Conn, 1)
	_, addr := start(t, shoal.Config{Subprotocols: []string{"chat.v2", "chat.v1"}, Handler: shoal.HandlerFuncs{
		Open: func(c *shoal.Conn) { opened <- c },
	}})
	raw := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: chat.v1, chat.v2\r\nOrigin: http://" + addr + "\r\n\r\n"
	resp := rawExchange(t, addr, raw)
	if !strings.HasPrefix(resp, "HTTP/1.1 101") || !strings.Contains(resp, "Sec-WebSocket-Protocol: chat.v1\r\n") {
		t.Fatalf("response %q: want 101 with the client's first choice chat.v1", resp)
	}
	if p := (<-opened).Subprotocol(); p != "chat.v1" {
		t.Fatalf("Subprotocol() = %q", p)
	}
	cross := strings.Replace(raw, "Origin: http://"+addr, "Origin: http://evil.example", 1)
	if resp := rawExchange(t, addr, cross); !strings.HasPrefix(resp, "HTTP/1.1 403") {
		t.Fatalf("cross-site origin got %q, want 403", resp)
	}
}

// TestUpgradeFromNetHTTP serves through http.ServeMux and a middleware,
// with the client's first frame sent in the same write as its request, so
// that it sits in net/http's buffer when the connection is taken over.
func TestUpgradeFromNetHTTP(t *testing.T) {
	values := make(chan any, 1)
	srv, _ := start(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Open:    func(c *shoal.Conn) { values <- c.Value() },
		Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
	}})
	mux := httpMux(t, srv)
	addr := serveHTTP(t, mux)
	raw := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	frame := wstest.Build(codec.OpText, true, []byte("sent with the request"))
	c := rawConn(t, addr)
	c.Write(append([]byte(raw), frame...))
	r := readResponse(t, c)
	if !strings.HasPrefix(r.head, "HTTP/1.1 101") || !strings.Contains(r.head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
		t.Fatalf("response %q", r.head)
	}
	if v := <-values; v != "user-42" {
		t.Fatalf("value seen in OnOpen = %v", v)
	}
	op, msg, err := r.client.ReadMessage()
	if err != nil || op != codec.OpText || string(msg) != "sent with the request" {
		t.Fatalf("echo %v %q %v", op, msg, err)
	}
	// A plain HTTP request to the same handler gets 426.
	plain := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	if resp := rawExchange(t, addr, plain); !strings.HasPrefix(resp, "HTTP/1.1 426") || !strings.Contains(resp, "Sec-WebSocket-Version: 13") {
		t.Fatalf("plain request got %q", resp)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(clientProcessEnv) != "" {
		os.Exit(runClientProcess())
	}
	if os.Getenv(serverProcessEnv) != "" {
		os.Exit(runServerProcess())
	}
	os.Exit(m.Run())
}
