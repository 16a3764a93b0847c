package shoal_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/conformance"
	"github.com/shoalws/shoal/internal/testca"
	"github.com/shoalws/shoal/internal/wstest"
)

// TLS (wss://) served by the shards: the same behaviours as over plain
// TCP, seen by real TLS clients that trust a test CA.

var testCA = func() *testca.CA {
	ca, err := testca.New()
	if err != nil {
		panic(err)
	}
	return ca
}()

// startTLS is start with Config.TLS from the test CA.
func startTLS(t *testing.T, cfg shoal.Config) (*shoal.Server, string) {
	t.Helper()
	if cfg.TLS == nil {
		cfg.TLS = testCA.ServerConfig()
	}
	return start(t, cfg)
}

func clientTLS() *tls.Config { return testCA.ClientConfig("127.0.0.1") }

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *wstest.Client {
	t.Helper()
	if cfg == nil {
		cfg = clientTLS()
	}
	c, err := wstest.DialTLS(addr, "/", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTLSEchoSizes(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/inline=%v", tls.VersionName(v), inline), func(t *testing.T) {
				_, addr := startTLS(t, shoal.Config{Inline: inline, Shards: 2})
				cfg := clientTLS()
				cfg.MaxVersion = v
				c := dialTLS(t, addr, cfg)
				if got := c.Conn.(*tls.Conn).ConnectionState().Version; got != v {
					t.Fatalf("negotiated %s", tls.VersionName(got))
				}
				for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
					roundTrip(t, c, codec.OpBinary, bytes.Repeat([]byte{byte(n)}, n))
					roundTrip(t, c, codec.OpText, bytes.Repeat([]byte("é"), n/2))
				}
				// Frames in one-byte records, and many frames in one record.
				wire := wstest.Build(codec.OpText, true, []byte("byte by byte"))
				if err := c.WriteChunked(wire, 1); err != nil {
					t.Fatal(err)
				}
				if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "byte by byte" {
					t.Fatalf("echo %q %v", msg, err)
				}
				var burst []byte
				for i := range 100 {
					burst = append(burst, wstest.Build(codec.OpText, true, []byte(fmt.Sprint(i)))...)
				}
				c.WriteRaw(burst)
				for i := range 100 {
					if _, msg, err := c.ReadMessage(); err != nil || string(msg) != fmt.Sprint(i) {
						t.Fatalf("echo %d: %q %v", i, msg, err)
					}
				}
			})
		}
	}
}

// TestTLSConformance runs the whole conformance suite over wss://: every
// case, octet-wise ones in one-byte records, none skipped. One dispatch
// mode: TLS sits below the frames, where the modes do not differ.
func TestTLSConformance(t *testing.T) {
	cfg := echoConfig(false)
	cfg.Shards = 2
	_, addr := startTLS(t, cfg)
	conformance.Run(t, addr, conformance.Options{TLS: clientTLS()})
}

// TestTLSNegotiation: ALPN settles on HTTP/1.1 even for a client that
// prefers h2, also through GetConfigForClient; SNI reaches
// GetCertificate, as autocert needs; TLS 1.0 and 1.1 are refused.
func TestTLSNegotiation(t *testing.T) {
	names := make(chan string, 10)
	base := &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			names <- hello.ServerName
			return &testCA.Leaf, nil
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
	perClient := &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return base, nil },
	}
	for _, tt := range []struct {
		name string
		cfg  *tls.Config
	}{{"GetCertificate", base}, {"GetConfigForClient", perClient}} {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startTLS(t, shoal.Config{TLS: tt.cfg})
			cfg := testCA.ClientConfig("localhost")
			cfg.NextProtos = []string{"h2", "http/1.1"}
			c := dialTLS(t, addr, cfg)
			if p := c.Conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "http/1.1" {
				t.Fatalf("ALPN chose %q", p)
			}
			if n := <-names; n != "localhost" {
				t.Fatalf("GetCertificate saw server name %q", n)
			}
			roundTrip(t, c, codec.OpText, []byte("over http/1.1"))
		})
	}
	_, addr := startTLS(t, shoal.Config{})
	old := clientTLS()
	old.MaxVersion = tls.VersionTLS11
	if c, err := wstest.DialTLS(addr, "/", old); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}
}

// TestTLSDial: the client role over wss://, against shoal's own TLS
// server, which sends as soon as it opens: frames that arrive with the
// handshake's last bytes (read ahead by the dialer, or buffered inside
// crypto/tls) come first and in order.
func TestTLSDial(t *testing.T) {
	const greetings = 50
	var echoSrv *shoal.Server
	echoAddr := startRef(t, &echoSrv, shoal.Config{TLS: testCA.ServerConfig(), Shards: 2, Handler: shoal.HandlerFuncs{
		Open: func(c *shoal.Conn) {
			for i := range greetings {
				c.Send(shoal.Text, []byte(fmt.Sprint("hello ", i)))
			}
		},
		Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
	}})
	h := newCollector()
	client, _ := start(t, shoal.Config{Shards: 2, Handler: h})
	c, err := client.Dial(context.Background(), "wss://"+echoAddr+"/", &shoal.DialOptions{TLS: clientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 125, 65536, 1 << 20}
	for _, n := range sizes {
		c.Send(shoal.Binary, bytes.Repeat([]byte{byte(n)}, n))
	}
	waitFor(t, func() bool { return h.count(c.ID()) == greetings+len(sizes) })
	h.mu.Lock()
	got := h.got[c.ID()]
	h.mu.Unlock()
	for i := range greetings {
		if string(got[i].Data) != fmt.Sprint("hello ", i) {
			t.Fatalf("message %d: %.20q", i, got[i].Data)
		}
	}
	for i, n := range sizes {
		if m := got[greetings+i]; !bytes.Equal(m.Data, bytes.Repeat([]byte{byte(n)}, n)) {
			t.Fatalf("echo of %d bytes came back as %d", n, len(m.Data))
		}
	}
	// Without the CA the certificate is refused; a plain server is not TLS.
	if _, err := client.Dial(context.Background(), "wss://"+echoAddr+"/", nil); err == nil {
		t.Fatal("dialed with an untrusted certificate")
	}
	_, plainAddr := start(t, shoal.Config{})
	if _, err := client.Dial(context.Background(), "wss://"+plainAddr+"/", &shoal.DialOptions{TLS: clientTLS()}); err == nil {
		t.Fatal("TLS handshake with a plain server succeeded")
	}
}

// TestTLSUpgradeNetHTTP: a page and its WebSocket endpoint on one https
// port, through NewTLSListener: net/http serves the page, Upgrade moves
// the WebSocket to a shard, the first frame sent with the request
// included.
func TestTLSUpgradeNetHTTP(t *testing.T) {
	values := make(chan any, 1)
	srv, _ := start(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Open:    func(c *shoal.Conn) { values <- c.Value() },
		Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
	}})
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the page") })
	mux.Handle("/ws", httpMux(t, srv))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(shoal.NewTLSListener(ln, testCA.ServerConfig()))
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()

	// A browser-like client offers h2 and gets HTTP/1.1.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(), ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "the page" || resp.Proto != "HTTP/1.1" {
		t.Fatalf("page %q over %s", body, resp.Proto)
	}

	nc, err := tls.Dial("tcp", addr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	raw := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	nc.Write(append([]byte(raw), wstest.Build(codec.OpText, true, []byte("sent with the request"))...))
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := readResponse(t, nc)
	if !strings.HasPrefix(r.head, "HTTP/1.1 101") {
		t.Fatalf("response %q", r.head)
	}
	if v := <-values; v != "user-42" {
		t.Fatalf("value seen in OnOpen = %v", v)
	}
	if op, msg, err := r.client.ReadMessage(); err != nil || op != codec.OpText || string(msg) != "sent with the request" {
		t.Fatalf("echo %v %q %v", op, msg, err)
	}
	roundTrip(t, r.client, codec.OpBinary, bytes.Repeat([]byte("x"), 100<<10))
	if st := srv.Stats(); st.Conns != 1 {
		t.Fatalf("%d conns on the shards, want the upgraded one", st.Conns)
	}
}

// TestTLSUpgradeNotAdoptable: Upgrade on a connection whose TLS net/http
// made itself (httptest's StartTLS, like http.ListenAndServeTLS) answers
// 501 before any 101, naming the way out, and returns ErrCannotTakeOver.
func TestTLSUpgradeNotAdoptable(t *testing.T) {
	srv, _ := start(t, shoal.Config{})
	errs := make(chan error, 1)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := srv.Upgrade(w, r, nil)
		errs <- err
	}))
	hs.StartTLS()
	defer hs.Close()
	cfg := &tls.Config{RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	addr := hs.Listener.Addr().String()
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	raw := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	nc.Write([]byte(raw))
	resp, _ := io.ReadAll(nc)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 501") || !strings.Contains(string(resp), "NewTLSListener") {
		t.Fatalf("response %q", resp)
	}
	if err := <-errs; !errors.Is(err, shoal.ErrCannotTakeOver) {
		t.Fatalf("Upgrade returned %v", err)
	}
}

// TestTLSTopicsAndBroadcast: published frames are encoded once and
// sealed per connection; every TLS subscriber gets every message, in
// order, beside a plain one.
func TestTLSTopicsAndBroadcast(t *testing.T) {
	const subs, msgs = 8, 200
	var srv *shoal.Server
	opened := make(chan *shoal.Conn, subs+1)
	addr := startRef(t, &srv, shoal.Config{TLS: testCA.ServerConfig(), Shards: 2, Handler: shoal.HandlerFuncs{
		Open: func(c *shoal.Conn) {
			srv.Subscribe(c, "room")
			opened <- c
		},
	}})
	var clients []*wstest.Client
	for range subs {
		clients = append(clients, dialTLS(t, addr, nil))
		<-opened
	}
	for i := range msgs {
		payload := fmt.Sprintf("%d %s", i, strings.Repeat("p", i*10))
		if i%2 == 0 {
			srv.Publish("room", shoal.Text, []byte(payload))
		} else {
			srv.Broadcast(shoal.Text, []byte(payload))
		}
	}
	for k, c := range clients {
		for i := range msgs {
			_, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("subscriber %d, message %d: %v", k, i, err)
			}
			if num, _, _ := strings.Cut(string(msg), " "); num != fmt.Sprint(i) || len(msg) != len(fmt.Sprint(i))+1+i*10 {
				t.Fatalf("subscriber %d: got %.20q, want message %d", k, msg, i)
			}
		}
	}
}

// TestTLSPing: pings and pongs over TLS; a silent peer is dropped.
func TestTLSPing(t *testing.T) {
	srv, addr := startTLS(t, shoal.Config{PingInterval: 150 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	alive := dialTLS(t, addr, nil)
	silent := dialTLS(t, addr, nil)
	answered := make(chan struct{}, 100)
	go func() {
		for {
			f, err := alive.ReadFrame()
			if err != nil {
				return
			}
			if f.Op == codec.OpPing {
				alive.WriteFrame(codec.OpPong, true, f.Payload)
				answered <- struct{}{}
			}
		}
	}()
	silent.Timeout = 3 * time.Second
	if f, err := silent.ReadFrame(); err != nil || f.Op != codec.OpPing {
		t.Fatalf("want a ping, got %+v %v", f.Header, err)
	}
	if err := silent.ExpectEOF(); err != nil {
		t.Fatalf("silent peer not dropped: %v", err)
	}
	for range 3 {
		<-answered
	}
	if st := srv.Stats(); st.Conns != 1 {
		t.Fatalf("%d conns open, want the answering one", st.Conns)
	}
}

// TestTLSCloseHandshake: a close from either side completes over TLS,
// followed by close_notify, so the client reads a clean end of stream.
func TestTLSCloseHandshake(t *testing.T) {
	opened := make(chan *shoal.Conn, 1)
	h := newCollector()
	_, addr := startTLS(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Open:  func(c *shoal.Conn) { opened <- c },
		Close: h.OnClose,
	}})

	c := dialTLS(t, addr, nil)
	<-opened
	c.WriteFrame(codec.OpClose, true, closePayload(4000, "bye"))
	if code, err := c.ExpectClose(); err != nil || code != 4000 {
		t.Fatalf("close %v %v", code, err)
	}
	if err := c.ExpectEOF(); err != nil {
		t.Fatalf("after the close: %v", err)
	}
	if err := <-h.closed; codeOf(err) != 4000 {
		t.Fatalf("OnClose %v", err)
	}

	c = dialTLS(t, addr, nil)
	(<-opened).Close(shoal.StatusGoingAway, "leaving")
	if f, err := c.ReadFrame(); err != nil || f.Op != codec.OpClose {
		t.Fatalf("want the close frame, got %+v %v", f.Header, err)
	}
	c.WriteFrame(codec.OpClose, true, closePayload(shoal.StatusGoingAway, ""))
	if err := c.ExpectEOF(); err != nil {
		t.Fatalf("after the close: %v", err)
	}
}

func closePayload(code codec.StatusCode, reason string) []byte {
	p, _ := codec.AppendClosePayload(nil, code, reason)
	return p
}

func codeOf(err error) codec.StatusCode {
	code, _ := codec.CloseCodeOf(err)
	return code
}

// TestTLSAccept: Config.Accept sees handshakes read over TLS, as over
// TCP; its refusal reaches the client sealed, before any 101.
func TestTLSAccept(t *testing.T) {
	_, addr := startTLS(t, shoal.Config{Accept: func(r *shoal.Request) error {
		if string(r.Path()) != "/ok" {
			return shoal.Reject(401, "log in first")
		}
		r.SetValue(string(r.QueryValue("user")))
		return nil
	}})
	c, err := wstest.DialTLS(addr, "/ok?user=ada", clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, codec.OpText, []byte("let in"))
	nc, err := tls.Dial("tcp", addr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write([]byte("GET /no HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	resp, _ := io.ReadAll(nc)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 401") {
		t.Fatalf("refused with %q", resp)
	}
}
