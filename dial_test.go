package shoal_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
)

// collector is a Handler that keeps what its connections receive.
type collector struct {
	mu     sync.Mutex
	got    map[uint64][]shoal.Message
	closed chan error
}

func newCollector() *collector {
	return &collector{got: map[uint64][]shoal.Message{}, closed: make(chan error, 100)}
}

func (h *collector) OnOpen(c *shoal.Conn) {}
func (h *collector) OnMessage(c *shoal.Conn, m shoal.Message) {
	h.mu.Lock()
	h.got[c.ID()] = append(h.got[c.ID()], shoal.Message{Type: m.Type, Data: bytes.Clone(m.Data)})
	h.mu.Unlock()
}

// OnClose reports the first closes; a handler must never block on a
// test that stopped listening.
func (h *collector) OnClose(c *shoal.Conn, err error) {
	select {
	case h.closed <- err:
	default:
	}
}

func (h *collector) count(id uint64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got[id])
}

// TestDialEcho: one shoal server dials another, which echoes: the client
// role masks its frames (the echo server would close with 1002
// otherwise), and replies reach the dialing server's Handler.
func TestDialEcho(t *testing.T) {
	_, echoAddr := start(t, shoal.Config{Shards: 2})
	h := newCollector()
	client, _ := start(t, shoal.Config{Shards: 2, Handler: h})
	c, err := client.Dial(context.Background(), "ws://"+echoAddr+"/echo?x=1", &shoal.DialOptions{Value: "tag"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Value() != "tag" {
		t.Fatalf("value %v", c.Value())
	}
	sizes := []int{0, 125, 126, 65536, 1 << 20}
	for _, n := range sizes {
		if err := c.Send(shoal.Binary, bytes.Repeat([]byte{byte(n)}, n)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return h.count(c.ID()) == len(sizes) })
	h.mu.Lock()
	for i, m := range h.got[c.ID()] {
		if m.Type != shoal.Binary || !bytes.Equal(m.Data, bytes.Repeat([]byte{byte(sizes[i])}, sizes[i])) {
			t.Fatalf("echo %d: %d bytes", i, len(m.Data))
		}
	}
	h.mu.Unlock()
	c.Close(shoal.StatusNormalClosure, "done")
	var ce *shoal.CloseError
	if err := <-h.closed; !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("OnClose %v", err)
	}
}

// TestDialedConnsCostNoGoroutine: 500 dialed connections add no
// goroutines to the dialing server once their handshakes are done.
func TestDialedConnsCostNoGoroutine(t *testing.T) {
	// The echo server lives in this process too: inline, it starts no
	// workers of its own.
	_, echoAddr := start(t, shoal.Config{Shards: 2, Inline: true})
	client, _ := start(t, shoal.Config{Shards: 2, Workers: 4, Handler: newCollector()})
	before := runtime.NumGoroutine()
	conns := make([]*shoal.Conn, 500)
	for i := range conns {
		c, err := client.Dial(context.Background(), "ws://"+echoAddr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	// The echo server lives in this process too: count only the growth.
	if after := runtime.NumGoroutine(); after > before+8 {
		t.Fatalf("%d goroutines after dialing 500 conns, %d before", after, before)
	}
}

// TestDialSubscriberGetsMaskedFrames: a dialed connection subscribed to
// a topic gets its own masked copy of each published frame.
func TestDialSubscriberGetsMaskedFrames(t *testing.T) {
	_, echoAddr := start(t, shoal.Config{})
	h := newCollector()
	client, _ := start(t, shoal.Config{Handler: h})
	c, err := client.Dial(context.Background(), "ws://"+echoAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	client.Subscribe(c, "up")
	for i := 0; i < 10; i++ {
		client.Publish("up", shoal.Text, []byte("published"))
	}
	// Echoed back: the echo server accepted every frame as masked.
	waitFor(t, func() bool { return h.count(c.ID()) == 10 })
}

func TestDialErrors(t *testing.T) {
	client, _ := start(t, shoal.Config{Handler: newCollector()})
	ctx := context.Background()
	for _, u := range []string{"http://example.com/", "wss:///nohost", "ws:///nohost", "::"} {
		if _, err := client.Dial(ctx, u, nil); !errors.Is(err, shoal.ErrUnsupportedURL) {
			t.Errorf("Dial(%q) = %v, want ErrUnsupportedURL", u, err)
		}
	}
	notWS := httptest.NewServer(http.NotFoundHandler())
	defer notWS.Close()
	_, err := client.Dial(ctx, "ws"+strings.TrimPrefix(notWS.URL, "http"), nil)
	if !errors.Is(err, codec.ErrBadStatus) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Dial to a plain HTTP server: %v", err)
	}
	// A server that never answers: the handshake timeout bounds Dial.
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
	}))
	defer silent.Close()
	quick, _ := start(t, shoal.Config{HandshakeTimeout: 200 * time.Millisecond, Handler: newCollector()})
	began := time.Now()
	if _, err := quick.Dial(ctx, "ws"+strings.TrimPrefix(silent.URL, "http"), nil); err == nil || time.Since(began) > 2*time.Second {
		t.Fatalf("Dial to a silent server: %v after %v", err, time.Since(began))
	}
}
