package stream_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// rawRequest sends a handshake request by hand and returns the response,
// the reader that holds what follows it, and the connection.
func rawRequest(t *testing.T, addr, request string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br, nc
}

const goodRequest = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

// TestAcceptRefuses: Accept answers a bad handshake with RFC 6455's
// status and returns the codec's error; the same for Server.
func TestAcceptRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, request string
		status        int
		err           error
	}{
		{"plain GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426, codec.ErrNotUpgrade},
		{"version 8", strings.Replace(goodRequest, "Version: 13", "Version: 8", 1) + "\r\n", 426, codec.ErrVersion},
		{"short key", strings.Replace(goodRequest, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1) + "\r\n", 400, codec.ErrKey},
		{"cross-site origin", goodRequest + "Origin: https://evil.example\r\n\r\n", 403, codec.ErrForbiddenOrigin},
		{"POST", strings.Replace(goodRequest, "GET", "POST", 1) + "Content-Length: 0\r\n\r\n", 400, codec.ErrMethod},
		{"a body", goodRequest + "Content-Length: 5\r\n\r\nhello", 400, codec.ErrBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, server := range []string{"accept", "server"} {
				errc := make(chan error, 1)
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				if server == "accept" {
					srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						_, err := stream.Accept(w, r, nil)
						errc <- err
					})}
					go srv.Serve(ln)
					defer srv.Close()
				} else {
					go func() {
						nc, err := ln.Accept()
						if err != nil {
							errc <- err
							return
						}
						defer nc.Close()
						_, err = stream.Server(context.Background(), nc, nil)
						errc <- err
					}()
					defer ln.Close()
				}
				resp, _, _ := rawRequest(t, ln.Addr().String(), tc.request)
				if resp.StatusCode != tc.status {
					t.Errorf("%s: status %d, want %d", server, resp.StatusCode, tc.status)
				}
				if err := <-errc; !errors.Is(err, tc.err) {
					t.Errorf("%s: error %v, want %v", server, err, tc.err)
				}
			}
		})
	}
}

// TestAcceptHeaders: fields set on w go out with the 101, but never one
// the handshake owns, nor a line smuggled in a value; the client's first
// frame, sent with its request, is not lost.
func TestAcceptHeaders(t *testing.T) {
	addr := serveHTTPWith(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=abc")
		w.Header().Set("Upgrade", "h2c")
		w.Header().Set("X-Evil", "a\r\nX-Injected: yes")
		c, err := stream.Accept(w, r, &stream.Options{Protocols: []string{"chat"}})
		if err != nil {
			return
		}
		defer c.Close()
		echo(c)
	})
	first := codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpText, Masked: true, Mask: [4]byte{9, 8, 7, 6}}, []byte("early"))
	resp, br, _ := rawRequest(t, addr, goodRequest+"Sec-WebSocket-Protocol: chat\r\n\r\n"+string(first))
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Set-Cookie"); got != "session=abc" {
		t.Errorf("Set-Cookie %q", got)
	}
	if got := resp.Header.Values("Upgrade"); len(got) != 1 || got[0] != "websocket" {
		t.Errorf("Upgrade %q", got)
	}
	if resp.Header.Get("X-Injected") != "" {
		t.Error("a header value injected a line")
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "chat" {
		t.Errorf("subprotocol %q", got)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept %q", got) // RFC 6455 §1.3's example
	}
	h, p := readFrame(t, br)
	if h.Op != codec.OpText || string(p) != "early" {
		t.Errorf("echo of the early frame: %+v %q", h, p)
	}
}

func serveHTTPWith(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestSubprotocols: the server picks, in the client's order of
// preference, the first subprotocol it speaks, by Accept and by Server.
func TestSubprotocols(t *testing.T) {
	srvOpts := &stream.Options{Protocols: []string{"v1", "v2"}}
	for _, url := range []string{serveHTTP(t, srvOpts, echo), "ws://" + serveConn(t, srvOpts, echo) + "/"} {
		for offer, want := range map[string]string{"v2,v1": "v2", "v1,v2": "v1", "v3": "", "v3,v2": "v2"} {
			c := dial(t, url, &stream.Options{Protocols: strings.Split(offer, ",")})
			if got := c.Subprotocol(); got != want {
				t.Errorf("%s offering %s: %q, want %q", url, offer, got, want)
			}
			c.Close()
		}
	}
}

// TestServerCheckRequest: Server shows the parsed request to
// CheckRequest, which may refuse it with a status of its choosing.
func TestServerCheckRequest(t *testing.T) {
	opts := &stream.Options{CheckRequest: func(r *codec.Request) error {
		if string(r.Path) != "/allowed" || string(r.Header("Authorization")) != "Bearer ok" {
			return &codec.HandshakeError{Status: 401, Reason: "who are you?"}
		}
		return nil
	}}
	addr := serveConn(t, opts, echo)
	ctx := context.Background()
	if _, err := stream.Dial(ctx, "ws://"+addr+"/other", nil); !errors.Is(err, codec.ErrBadStatus) || !strings.Contains(err.Error(), "401") {
		t.Errorf("refused dial: %v", err)
	}
	c := dial(t, "ws://"+addr+"/allowed", &stream.Options{Header: http.Header{"Authorization": {"Bearer ok"}}})
	c.WriteMessage(codec.OpText, []byte("in"))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "in" {
		t.Fatalf("%q %v", p, err)
	}
}

// TestOverPipe: Client and Server run over a connection that is neither
// TCP nor dialed by the package: an in-memory net.Pipe.
func TestOverPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	srvc := make(chan *stream.Conn, 1)
	go func() {
		c, err := stream.Server(ctx, b, nil)
		if err != nil {
			t.Error(err)
		}
		srvc <- c
	}()
	cl, err := stream.Client(ctx, a, "ws://pipe/path", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := <-srvc
	if srv == nil {
		t.FailNow()
	}
	go echo(srv)
	for _, n := range []int{0, 10, 70000} {
		if err := cl.WriteMessage(codec.OpBinary, payload(n)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := cl.ReadMessage(); err != nil || !equal(p, payload(n)) {
			t.Fatalf("%d bytes: %d back, %v", n, len(p), err)
		}
	}
}

// TestDialErrors: URLs Dial cannot use, a server that does not speak
// WebSocket, and a handshake abandoned through the context.
func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:1/", "ws://", "ws:///path", "127.0.0.1:80"} {
		if _, err := stream.Dial(ctx, u, nil); !errors.Is(err, stream.ErrBadURL) {
			t.Errorf("Dial(%q): %v", u, err)
		}
	}
	plain := serveHTTPWith(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	if _, err := stream.Dial(ctx, "ws://"+plain+"/", nil); !errors.Is(err, codec.ErrBadStatus) {
		t.Errorf("dial a 404: %v", err)
	}
	if _, err := stream.Dial(ctx, "ws://"+plain+"/", &stream.Options{Header: http.Header{"Upgrade": {"x"}}}); !errors.Is(err, codec.ErrClientRequest) {
		t.Errorf("dial with an Upgrade header: %v", err)
	}

	url, conns := rawServerSilent(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := stream.Dial(ctx, url, nil)
		done <- err
	}()
	<-conns // the server has the TCP connection and will never answer
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled dial: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the context did not end the handshake")
	}
}

// rawServerSilent accepts a connection and never answers.
func rawServerSilent(t *testing.T) (string, <-chan net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			conns <- nc
		}
	}()
	t.Cleanup(func() {
		select {
		case nc := <-conns:
			nc.Close()
		default:
		}
	})
	return "ws://" + ln.Addr().String() + "/", conns
}

// TestDialEarlyFrame: a frame the server sends in the same segment as its
// 101 response is the client's first message.
func TestDialEarlyFrame(t *testing.T) {
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
		buf := make([]byte, 4096)
		var req codec.Request
		n, _ := nc.Read(buf)
		if _, err := codec.ParseRequest(buf[:n], 0, &req); err != nil {
			return
		}
		resp := codec.AppendAccept(nil, &req, "")
		nc.Write(append(resp, serverFrame(codec.OpText, true, []byte("welcome"))...))
		io.Copy(io.Discard, nc)
	}()
	// The raw server never answers a close: don't wait long for it.
	c := dial(t, "ws://"+ln.Addr().String()+"/", &stream.Options{CloseTimeout: 10 * time.Millisecond})
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "welcome" {
		t.Fatalf("%q %v", p, err)
	}
}
