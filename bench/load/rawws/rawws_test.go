package rawws

import (
	"bufio"
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

	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal"
)

// gorillaServer serves ws:// with gorilla as the independent server
// (it rejects unmasked client frames), running handle on each
// connection; it returns the address.
func gorillaServer(t *testing.T, up websocket.Upgrader, handle func(*websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		handle(ws)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func gorillaEcho(ws *websocket.Conn) {
	ws.SetReadLimit(MaxMessage)
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if ws.WriteMessage(mt, data) != nil {
			return
		}
	}
}

// shoalServer serves ws:// with shoal, echoing.
func shoalServer(t *testing.T) string {
	t.Helper()
	s, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", Inline: true, MaxMessageSize: 2 << 20,
		Handler: shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) }}})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return addr.String()
}

func dial(t *testing.T, addr string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Messages of every length class, text and binary, come back exactly
// from two servers that check masking: the frames are well formed and
// the masks right.
func TestEcho(t *testing.T) {
	for _, srv := range []struct {
		name string
		addr string
	}{
		{"gorilla", gorillaServer(t, websocket.Upgrader{}, gorillaEcho)},
		{"shoal", shoalServer(t)},
	} {
		t.Run(srv.name, func(t *testing.T) {
			c := dial(t, srv.addr)
			var in uint64
			for _, n := range []int{0, 1, 7, 8, 125, 126, 127, 65535, 65536, 1 << 20} {
				for _, op := range []byte{OpBinary, OpText} {
					p := make([]byte, n)
					for i := range p {
						p[i] = 'a' + byte(i%26)
					}
					if err := c.WriteMessage(op, p); err != nil {
						t.Fatal(err)
					}
					m, err := c.Next()
					if err != nil {
						t.Fatalf("%d bytes: %v", n, err)
					}
					if m.Op != op || !bytes.Equal(m.Payload, p) || m.At.IsZero() {
						t.Fatalf("%d bytes, op %d: got op %d, %d bytes", n, op, m.Op, len(m.Payload))
					}
					in += uint64(n) + 2
					if n > 125 {
						in += 2
					}
					if n > 65535 {
						in += 6
					}
				}
			}
			if c.BytesIn() != in {
				t.Errorf("BytesIn %d, want %d", c.BytesIn(), in)
			}
		})
	}
}

// Pings are answered with their payload, fragments put together, and a
// close answered with its code.
func TestServerFrames(t *testing.T) {
	pong := make(chan string, 1)
	closed := make(chan error, 1)
	long := strings.Repeat("fragment ", 200)
	addr := gorillaServer(t, websocket.Upgrader{WriteBufferSize: 256}, func(ws *websocket.Conn) {
		ws.SetPongHandler(func(p string) error { pong <- p; return nil })
		ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		// A 256-byte buffer flushes the message as several frames.
		w, _ := ws.NextWriter(websocket.TextMessage)
		for _, part := range strings.SplitAfter(long, " ") {
			w.Write([]byte(part))
		}
		w.Close()
		ws.WriteMessage(websocket.BinaryMessage, []byte("after"))
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(time.Second))
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage() // runs the pong handler; ends with the close
		closed <- err
	})
	c := dial(t, addr)
	m, err := c.Next()
	if err != nil || m.Op != OpText || string(m.Payload) != long {
		t.Fatalf("fragmented message: %v, %q", err, m.Payload)
	}
	if m, err = c.Next(); err != nil || string(m.Payload) != "after" {
		t.Fatalf("after it: %v, %q", err, m.Payload)
	}
	_, err = c.Next()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
		t.Fatalf("close: %v", err)
	}
	select {
	case p := <-pong:
		if p != "are you there" {
			t.Errorf("pong %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	var sce *websocket.CloseError
	select {
	case err := <-closed:
		if !errors.As(err, &sce) || sce.Code != 4000 {
			t.Errorf("the server read %v, want our close 4000", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server read nothing")
	}
}

// Frames a server must not send end the read with ErrProtocol (or
// ErrTooLarge), whatever came before them.
func TestBadFrames(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"masked", []byte{0x82, 0x81, 1, 2, 3, 4, 'x'}},
		{"reserved bit", []byte{0xC2, 0x01, 'x'}},
		{"unknown opcode", []byte{0x83, 0x01, 'x'}},
		{"long ping", append([]byte{0x89, 0x7E, 0x00, 0x7E}, make([]byte, 126)...)},
		{"fragmented ping", []byte{0x09, 0x00}},
		{"continuation first", []byte{0x80, 0x01, 'x'}},
		{"one-byte close", []byte{0x88, 0x01, 0x03}},
		{"message inside a fragmented one", []byte{0x02, 0x01, 'a', 0x82, 0x01, 'b'}},
		{"too large", []byte{0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := gorillaServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
				ws.WriteMessage(websocket.BinaryMessage, []byte("fine"))
				ws.UnderlyingConn().Write(c.frame)
				ws.ReadMessage() // until the client goes
			})
			conn := dial(t, addr)
			if m, err := conn.Next(); err != nil || string(m.Payload) != "fine" {
				t.Fatalf("first message: %v %q", err, m.Payload)
			}
			_, err := conn.Next()
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// A handshake answer that is not a WebSocket's is refused.
func TestHandshakeRejects(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(key string) string
	}{
		{"not 101", func(string) string { return "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n" }},
		{"wrong accept", func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
		}},
		{"no upgrade", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
		}},
		{"an extension not offered", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				acceptKey(key) + "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
		}},
		{"endless headers", func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\n" + strings.Repeat("X-Filler: 0123456789\r\n", 1000)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				io.WriteString(nc, c.answer(req.Header.Get("Sec-WebSocket-Key")))
				io.Copy(io.Discard, nc)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if conn, err := Dial(ctx, ln.Addr().String(), nil); err == nil {
				conn.Close()
				t.Fatal("accepted")
			}
		})
	}
}

func TestMask(t *testing.T) {
	for _, key := range []uint32{0, 0x01020304, 0xFFFFFFFF, 0xDEADBEEF} {
		for n := range 40 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i * 31)
			}
			got := bytes.Clone(b)
			mask(got, key)
			k := []byte{byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)}
			for i := range b {
				if got[i] != b[i]^k[i%4] {
					t.Fatalf("key %#x, %d bytes: byte %d is %#x, want %#x", key, n, i, got[i], b[i]^k[i%4])
				}
			}
		}
	}
}
