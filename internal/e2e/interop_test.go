package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal"
)

// The same behaviours as shoal's own tests, seen by independent clients:
// gorilla/websocket and coder/websocket.

func startShoal(t *testing.T, cfg shoal.Config) (*shoal.Server, string) {
	t.Helper()
	if cfg.Handler == nil {
		cfg.Handler = shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) }}
	}
	cfg.Addr = "127.0.0.1:0"
	srv, err := shoal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, "ws://" + addr.String() + "/"
}

func gorillaDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, WriteBufferSize: 4096}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(32 << 20)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

var sizes = []int{0, 125, 126, 65535, 65536, 1 << 20}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func TestGorillaEchoSizes(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprint("inline=", inline), func(t *testing.T) {
			_, url := startShoal(t, shoal.Config{Shards: 2, Inline: inline})
			c := gorillaDial(t, url)
			for _, n := range sizes {
				for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
					want := payload(n)
					if err := c.WriteMessage(typ, want); err != nil {
						t.Fatal(err)
					}
					gotType, got, err := c.ReadMessage()
					if err != nil || gotType != typ || !bytes.Equal(got, want) {
						t.Fatalf("%d bytes, type %d: got type %d, %d bytes, %v", n, typ, gotType, len(got), err)
					}
				}
			}
		})
	}
}

// TestGorillaFragmented: gorilla's NextWriter sends a message as one
// frame per buffer-full; with a 4 KiB buffer a 1 MiB message is 256
// fragments.
func TestGorillaFragmented(t *testing.T) {
	_, url := startShoal(t, shoal.Config{})
	c := gorillaDial(t, url)
	want := payload(1 << 20)
	w, err := c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(want); off += 1000 {
		w.Write(want[off:min(off+1000, len(want))])
	}
	w.Close()
	_, got, err := c.ReadMessage()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fragmented 1 MiB: %d bytes back, %v", len(got), err)
	}
}

func TestCoderEchoSizes(t *testing.T) {
	_, url := startShoal(t, shoal.Config{Shards: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := coder.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(32 << 20)
	for _, n := range sizes {
		for _, typ := range []coder.MessageType{coder.MessageText, coder.MessageBinary} {
			want := payload(n)
			if err := c.Write(ctx, typ, want); err != nil {
				t.Fatal(err)
			}
			gotType, got, err := c.Read(ctx)
			if err != nil || gotType != typ || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes %v: got %v, %d bytes, %v", n, typ, gotType, len(got), err)
			}
		}
	}
	if err := c.Close(coder.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

// TestManyConnsOnShards: 200 gorilla connections over 4 shards, each
// echoing 50 messages concurrently.
func TestManyConnsOnShards(t *testing.T) {
	srv, url := startShoal(t, shoal.Config{Shards: 4})
	const conns, msgs = 200, 50
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for j := 0; j < msgs; j++ {
				want := fmt.Sprintf("conn %d message %d", i, j)
				c.WriteMessage(websocket.TextMessage, []byte(want))
				if _, got, err := c.ReadMessage(); err != nil || string(got) != want {
					t.Errorf("got %q %v, want %q", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := srv.Stats(); st.Handshakes != conns || st.MessagesIn != conns*msgs {
		t.Fatalf("stats %+v", st)
	}
}

// TestConcurrentSendsToGorilla: 16 goroutines send to one connection; the
// gorilla reader sees each goroutine's messages in its order.
func TestConcurrentSendsToGorilla(t *testing.T) {
	opened := make(chan *shoal.Conn, 1)
	_, url := startShoal(t, shoal.Config{MaxOutbound: 64 << 20, Handler: shoal.HandlerFuncs{
		Open: func(c *shoal.Conn) { opened <- c },
	}})
	c := gorillaDial(t, url)
	sc := <-opened
	const senders, each = 16, 1000
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := sc.Send(shoal.Text, []byte(fmt.Sprintf("%d %d", g, i))); err != nil {
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
			t.Fatal(err)
		}
		var g, i int
		fmt.Sscanf(string(msg), "%d %d", &g, &i)
		if i != next[g] {
			t.Fatalf("sender %d: message %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
	}
	wg.Wait()
}

// TestCloseCodesBothWays: a gorilla client's close code reaches OnClose,
// and a server Close reaches the gorilla client.
func TestCloseCodesBothWays(t *testing.T) {
	closed := make(chan error, 2)
	opened := make(chan *shoal.Conn, 2)
	_, url := startShoal(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Open:  func(c *shoal.Conn) { opened <- c },
		Close: func(c *shoal.Conn, err error) { closed <- err },
	}})
	c := gorillaDial(t, url)
	<-opened
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "client says bye"))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 4000) {
		t.Fatalf("client read after its close: %v, want the 4000 echo", err)
	}
	var ce *shoal.CloseError
	if err := <-closed; !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "client says bye" {
		t.Fatalf("OnClose got %v", err)
	}

	c2 := gorillaDial(t, url)
	sc := <-opened
	sc.Close(4001, "server says bye")
	_, _, err := c2.ReadMessage()
	var gce *websocket.CloseError
	if !errors.As(err, &gce) || gce.Code != 4001 || gce.Text != "server says bye" {
		t.Fatalf("gorilla got %v", err)
	}
}

// TestCoderThroughNetHTTPUpgrade: shoal takes over connections from a
// net/http handler mounted on a ServeMux; coder/websocket is the client.
func TestCoderThroughNetHTTPUpgrade(t *testing.T) {
	srv, _ := startShoal(t, shoal.Config{Subprotocols: []string{"chat"}, Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			c.Send(m.Type, []byte(c.Value().(string)+": "+strings.ToUpper(string(m.Data))))
		},
	}})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		srv.Upgrade(w, r, r.URL.Query().Get("user"))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?user=ada"
	c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat" || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("subprotocol %q status %d", c.Subprotocol(), resp.StatusCode)
	}
	c.Write(ctx, coder.MessageText, []byte("hello"))
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != "ada: HELLO" {
		t.Fatalf("got %q %v", got, err)
	}
	c.Close(coder.StatusNormalClosure, "")
}

// TestShoalDialsGorilla: shoal's client role against gorilla's server:
// masked frames gorilla accepts, sizes up to 1 MiB, and a close handshake
// started by the client.
func TestShoalDialsGorilla(t *testing.T) {
	addr := startGorillaEcho(t, false)
	got := make(chan shoal.Message, 16)
	closed := make(chan error, 1)
	srv, _ := startShoal(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) { got <- shoal.Message{Type: m.Type, Data: bytes.Clone(m.Data)} },
		Close:   func(c *shoal.Conn, err error) { closed <- err },
	}})
	c, err := srv.Dial(context.Background(), "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		want := payload(n)
		if err := c.Send(shoal.Text, want); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m.Type != shoal.Text || !bytes.Equal(m.Data, want) {
				t.Fatalf("%d bytes: got %d bytes of %v", n, len(m.Data), m.Type)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no echo of %d bytes from gorilla", n)
		}
	}
	c.Close(shoal.StatusNormalClosure, "bye")
	var ce *shoal.CloseError
	if err := <-closed; !errors.As(err, &ce) || ce.Code != shoal.StatusNormalClosure {
		t.Fatalf("OnClose %v", err)
	}
}
