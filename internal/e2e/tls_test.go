package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/internal/testca"
)

// wss:// interop: shoal's TLS on its shards against gorilla's and coder's
// clients (crypto/tls underneath), and shoal's wss:// client against a
// gorilla server behind net/http's own TLS. Every client trusts a test CA
// and checks the server's name.

var ca = func() *testca.CA {
	ca, err := testca.New()
	if err != nil {
		panic(err)
	}
	return ca
}()

func startShoalTLS(t *testing.T, cfg shoal.Config) (*shoal.Server, string) {
	t.Helper()
	cfg.TLS = ca.ServerConfig()
	srv, url := startShoal(t, cfg)
	return srv, "wss" + strings.TrimPrefix(url, "ws")
}

func gorillaTLS() *websocket.Dialer {
	return &websocket.Dialer{HandshakeTimeout: 5 * time.Second, WriteBufferSize: 4096, TLSClientConfig: ca.ClientConfig("")}
}

func coderTLS() *coder.DialOptions {
	return &coder.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig("")}}}
}

func TestTLSGorillaEcho(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			_, url := startShoalTLS(t, shoal.Config{Shards: 2})
			d := gorillaTLS()
			d.TLSClientConfig.MaxVersion = v
			c, _, err := d.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadLimit(32 << 20)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for _, n := range sizes {
				for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
					want := payload(n)
					c.WriteMessage(typ, want)
					gotType, got, err := c.ReadMessage()
					if err != nil || gotType != typ || !bytes.Equal(got, want) {
						t.Fatalf("%d bytes: got type %d, %d bytes, %v", n, gotType, len(got), err)
					}
				}
			}
			// 1 MiB in 4 KiB fragments: many small records.
			want := payload(1 << 20)
			w, _ := c.NextWriter(websocket.BinaryMessage)
			for off := 0; off < len(want); off += 1000 {
				w.Write(want[off:min(off+1000, len(want))])
			}
			w.Close()
			if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("fragmented 1 MiB: %d bytes back, %v", len(got), err)
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"))
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 4000) {
				t.Fatalf("after the close: %v", err)
			}
		})
	}
}

func TestTLSCoderEcho(t *testing.T) {
	_, url := startShoalTLS(t, shoal.Config{Shards: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := coder.Dial(ctx, url, coderTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(32 << 20)
	for _, n := range sizes {
		want := payload(n)
		if err := c.Write(ctx, coder.MessageBinary, want); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
	if err := c.Close(coder.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

// TestTLSCoderThroughNewTLSListener: a page and its WebSocket endpoint on
// one https port; coder/websocket's client (net/http underneath, offering
// h2) gets the page over HTTP/1.1 and the WebSocket from a shard.
func TestTLSCoderThroughNewTLSListener(t *testing.T) {
	srv, _ := startShoal(t, shoal.Config{Subprotocols: []string{"chat"}, Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			c.Send(m.Type, []byte(c.Value().(string)+": "+strings.ToUpper(string(m.Data))))
		},
	}})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page") })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		srv.Upgrade(w, r, r.URL.Query().Get("user"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(shoal.NewTLSListener(ln, ca.ServerConfig()))
	defer hs.Close()
	base := "https://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig(""), ForceAttemptHTTP2: true}}
	resp, err := hc.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/1.1" {
		t.Fatalf("page over %s", resp.Proto)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := coderTLS()
	opts.Subprotocols = []string{"chat"}
	c, _, err := coder.Dial(ctx, "wss"+strings.TrimPrefix(base, "https")+"/ws?user=ada", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	c.Write(ctx, coder.MessageText, []byte("hello"))
	if _, got, err := c.Read(ctx); err != nil || string(got) != "ada: HELLO" {
		t.Fatalf("got %q %v", got, err)
	}
	c.Close(coder.StatusNormalClosure, "")
}

// TestTLSManyGorillaConns: 100 gorilla wss:// connections over 4 shards,
// each echoing 50 messages at once.
func TestTLSManyGorillaConns(t *testing.T) {
	srv, url := startShoalTLS(t, shoal.Config{Shards: 4})
	const conns, msgs = 100, 50
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, _, err := gorillaTLS().Dial(url, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for j := range msgs {
				want := fmt.Sprintf("conn %d message %d", i, j)
				c.WriteMessage(websocket.TextMessage, []byte(want))
				if _, got, err := c.ReadMessage(); err != nil || string(got) != want {
					t.Errorf("got %q %v, want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := srv.Stats(); st.Handshakes != conns || st.MessagesIn != conns*msgs {
		t.Fatalf("stats %+v", st)
	}
}

// TestTLSShoalDialsGorilla: shoal's wss:// client against gorilla behind
// net/http's own TLS (http.Server.ServeTLS).
func TestTLSShoalDialsGorilla(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upgrader := websocket.Upgrader{}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			echo(c)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         ca.ServerConfig(),
	}
	go hs.ServeTLS(ln, "", "")
	defer hs.Close()

	got := make(chan shoal.Message, 16)
	closed := make(chan error, 1)
	srv, _ := startShoal(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) { got <- shoal.Message{Type: m.Type, Data: bytes.Clone(m.Data)} },
		Close:   func(c *shoal.Conn, err error) { closed <- err },
	}})
	c, err := srv.Dial(context.Background(), "wss://"+ln.Addr().String()+"/", &shoal.DialOptions{TLS: ca.ClientConfig("")})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		want := payload(n)
		c.Send(shoal.Binary, want)
		select {
		case m := <-got:
			if !bytes.Equal(m.Data, want) {
				t.Fatalf("%d bytes: got %d", n, len(m.Data))
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
