package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// Package stream against gorilla/websocket and coder/websocket, in both
// directions: our client to their servers, their clients to our Accept.

// serveHTTP serves h on a loopback port for the test and returns the
// ws:// URL of its root.
func serveHTTP(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String() + "/"
}

// streamServer serves stream.Accept with opts; handle runs on each
// connection, which is closed when it returns.
func streamServer(t *testing.T, opts *stream.Options, handle func(*stream.Conn)) string {
	return serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.Close()
		handle(c)
	})
}

func streamEcho(c *stream.Conn) {
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
}

func streamDial(t *testing.T, url string, opts *stream.Options) *stream.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := stream.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrips sends a message of every size, of both types, and checks
// each echo.
func roundTrips(t *testing.T, c *stream.Conn) {
	t.Helper()
	for _, n := range sizes {
		for _, op := range []codec.Opcode{codec.OpText, codec.OpBinary} {
			want := payload(n)
			if err := c.WriteMessage(op, want); err != nil {
				t.Fatal(err)
			}
			got, p, err := c.ReadMessage()
			if err != nil || got != op || !bytes.Equal(p, want) {
				t.Fatalf("%d bytes %v: got %v, %d bytes, %v", n, op, got, len(p), err)
			}
		}
	}
}

// streamed writes a 3 MiB message through NextWriter in 1000-byte pieces
// and reads the echo through NextReader.
func streamed(t *testing.T, c *stream.Conn) {
	t.Helper()
	want := payload(3 << 20)
	w, err := c.NextWriter(codec.OpBinary)
	if err != nil {
		t.Fatal(err)
	}
	for p := want; len(p) > 0; p = p[min(len(p), 1000):] {
		if _, err := w.Write(p[:min(len(p), 1000)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, r, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("streamed 3 MiB: %d bytes back, %v", len(got), err)
	}
}

func TestStreamDialsGorilla(t *testing.T) {
	opts := &stream.Options{MaxMessageSize: maxMessage, OnPong: func(p []byte) {}}
	pongs := make(chan string, 1)
	opts.OnPong = func(p []byte) { pongs <- string(p) }
	c := streamDial(t, "ws://"+startGorillaEcho(t, false)+"/", opts)
	roundTrips(t, c)
	streamed(t, c)
	if err := c.Ping([]byte("gorilla?")); err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(codec.OpText, []byte("x"))
	c.ReadMessage()
	if p := <-pongs; p != "gorilla?" {
		t.Errorf("pong %q", p)
	}

	// Close codes both ways, and the subprotocol.
	closes := make(chan error, 1)
	upgrader := websocket.Upgrader{Subprotocols: []string{"v1", "v2"}}
	url := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		gc, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer gc.Close()
		if r.URL.Query().Get("server") == "closes" {
			gc.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "gorilla bye"))
		}
		_, _, err = gc.ReadMessage()
		closes <- err
	})
	c = streamDial(t, url, &stream.Options{Protocols: []string{"v2", "v1"}})
	if c.Subprotocol() != "v1" { // gorilla picks in its own order
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	if err := c.CloseWith(4001, "stream bye"); err != nil {
		t.Fatal(err)
	}
	var gce *websocket.CloseError
	if err := <-closes; !errors.As(err, &gce) || gce.Code != 4001 || gce.Text != "stream bye" {
		t.Errorf("gorilla read %v", err)
	}
	c = streamDial(t, url+"?server=closes", nil)
	var ce *codec.CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != 4002 || ce.Reason != "gorilla bye" {
		t.Errorf("stream read %v", err)
	}
	if err := <-closes; !websocket.IsCloseError(err, 4002) {
		t.Errorf("gorilla saw %v after its close was answered", err)
	}
}

func TestGorillaDialsStream(t *testing.T) {
	closes := make(chan error, 1)
	url := streamServer(t, &stream.Options{MaxMessageSize: maxMessage, Protocols: []string{"v1", "v2"}}, func(c *stream.Conn) {
		switch c.Subprotocol() {
		case "v2": // close from the server
			closes <- c.CloseWith(4002, "stream bye")
		default:
			for {
				op, p, err := c.ReadMessage()
				if err != nil {
					closes <- err
					return
				}
				c.WriteMessage(op, p)
			}
		}
	})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{"v1"}}
	g, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.SetReadLimit(maxMessage)
	g.SetReadDeadline(time.Now().Add(30 * time.Second))
	for _, n := range sizes {
		for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			want := payload(n)
			g.WriteMessage(typ, want)
			if gotType, got, err := g.ReadMessage(); err != nil || gotType != typ || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes type %d: got type %d, %d bytes, %v", n, typ, gotType, len(got), err)
			}
		}
	}
	// gorilla's NextWriter sends a frame per write buffer: 4 KiB fragments.
	w, _ := g.NextWriter(websocket.BinaryMessage)
	big := payload(3 << 20)
	w.Write(big)
	w.Close()
	if _, got, err := g.ReadMessage(); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("fragmented 3 MiB: %d bytes back, %v", len(got), err)
	}
	pongs := make(chan string, 1)
	g.SetPongHandler(func(s string) error { pongs <- s; return nil })
	g.WriteControl(websocket.PingMessage, []byte("stream?"), time.Now().Add(time.Second))
	g.WriteMessage(websocket.TextMessage, []byte("x"))
	g.ReadMessage()
	if p := <-pongs; p != "stream?" {
		t.Errorf("pong %q", p)
	}
	g.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "gorilla bye"))
	if _, _, err := g.ReadMessage(); !websocket.IsCloseError(err, 4000) {
		t.Errorf("gorilla read after its close: %v, want the echo of 4000", err)
	}
	var ce *codec.CloseError
	if err := <-closes; !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "gorilla bye" {
		t.Errorf("stream read %v", err)
	}

	d.Subprotocols = []string{"v2"}
	g2, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	g2.SetReadDeadline(time.Now().Add(10 * time.Second))
	var gce *websocket.CloseError
	if _, _, err := g2.ReadMessage(); !errors.As(err, &gce) || gce.Code != 4002 || gce.Text != "stream bye" {
		t.Errorf("gorilla read %v", err)
	}
	if err := <-closes; err != nil {
		t.Errorf("stream CloseWith: %v", err)
	}
}

// TestGorillaSendsBadUTF8: gorilla does not check what it sends; the
// stream server fails the connection with 1007.
func TestGorillaSendsBadUTF8(t *testing.T) {
	url := streamServer(t, nil, streamEcho)
	g, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.SetReadDeadline(time.Now().Add(10 * time.Second))
	g.WriteMessage(websocket.TextMessage, []byte("caf\xe9"))
	if _, _, err := g.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
		t.Errorf("gorilla read %v, want close 1007", err)
	}
}

// coderEcho serves coder/websocket: an echo through its Reader and
// Writer, or, with ?server=closes, a close with 4002 started by coder.
func coderServer(t *testing.T, closes chan<- error) string {
	return serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, &coder.AcceptOptions{Subprotocols: []string{"v1", "v2"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(maxMessage)
		ctx := r.Context()
		if r.URL.Query().Get("server") == "closes" {
			closes <- c.Close(4002, "coder bye") // waits for our answer
			return
		}
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				closes <- err
				return
			}
			wr, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
}

func TestStreamDialsCoder(t *testing.T) {
	closes := make(chan error, 1)
	url := coderServer(t, closes)
	pongs := make(chan string, 1)
	c := streamDial(t, url, &stream.Options{MaxMessageSize: maxMessage, Protocols: []string{"v2"},
		OnPong: func(p []byte) { pongs <- string(p) }})
	if c.Subprotocol() != "v2" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	roundTrips(t, c)
	streamed(t, c)
	c.Ping([]byte("coder?"))
	c.WriteMessage(codec.OpText, []byte("x"))
	c.ReadMessage()
	if p := <-pongs; p != "coder?" {
		t.Errorf("pong %q", p)
	}
	if err := c.CloseWith(4001, "stream bye"); err != nil {
		t.Fatal(err)
	}
	if err := <-closes; coder.CloseStatus(err) != 4001 {
		t.Errorf("coder read %v", err)
	}

	c = streamDial(t, url+"?server=closes", nil)
	var ce *codec.CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != 4002 || ce.Reason != "coder bye" {
		t.Errorf("stream read %v", err)
	}
	if err := <-closes; err != nil {
		t.Errorf("coder's Close, answered by stream: %v", err)
	}
}

func TestCoderDialsStream(t *testing.T) {
	closes := make(chan error, 1)
	url := streamServer(t, &stream.Options{MaxMessageSize: maxMessage, Protocols: []string{"v1", "v2"}}, func(c *stream.Conn) {
		if c.Subprotocol() == "v2" {
			closes <- c.CloseWith(4002, "stream bye")
			return
		}
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				closes <- err
				return
			}
			c.WriteMessage(op, p)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, _, err := coder.Dial(ctx, url, &coder.DialOptions{Subprotocols: []string{"v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseNow()
	k.SetReadLimit(maxMessage)
	for _, n := range append(sizes, 3<<20) {
		for _, typ := range []coder.MessageType{coder.MessageText, coder.MessageBinary} {
			want := payload(n)
			if err := k.Write(ctx, typ, want); err != nil {
				t.Fatal(err)
			}
			if gotType, got, err := k.Read(ctx); err != nil || gotType != typ || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes: got %v, %d bytes, %v", n, gotType, len(got), err)
			}
		}
	}
	// coder's Ping waits for the pong, which its reader sees.
	read := make(chan string, 1)
	go func() {
		_, p, _ := k.Read(ctx)
		read <- string(p)
	}()
	if err := k.Ping(ctx); err != nil {
		t.Errorf("coder ping: %v", err)
	}
	k.Write(ctx, coder.MessageText, []byte("after the ping"))
	if p := <-read; p != "after the ping" {
		t.Errorf("read %q", p)
	}
	if err := k.Close(4003, "coder bye"); err != nil {
		t.Errorf("coder's Close, answered by stream: %v", err)
	}
	var ce *codec.CloseError
	if err := <-closes; !errors.As(err, &ce) || ce.Code != 4003 || ce.Reason != "coder bye" {
		t.Errorf("stream read %v", err)
	}

	k2, _, err := coder.Dial(ctx, url, &coder.DialOptions{Subprotocols: []string{"v2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer k2.CloseNow()
	if _, _, err := k2.Read(ctx); coder.CloseStatus(err) != 4002 {
		t.Errorf("coder read %v", err)
	}
	if err := <-closes; err != nil {
		t.Errorf("stream CloseWith: %v", err)
	}
}

// TestCoderOverTLS: coder dials wss:// to Accept behind an https server.
func TestCoderOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		streamEcho(c)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "wss" + strings.TrimPrefix(srv.URL, "https")
	k, _, err := coder.Dial(ctx, url, &coder.DialOptions{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseNow()
	k.SetReadLimit(1 << 20)
	want := payload(100 << 10)
	k.Write(ctx, coder.MessageBinary, want)
	if _, got, err := k.Read(ctx); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%d bytes back, %v", len(got), err)
	}
	if err := k.Close(coder.StatusNormalClosure, ""); err != nil {
		t.Errorf("close over TLS: %v", err)
	}
}
