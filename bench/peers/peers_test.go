package peers

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal/internal/testca"
)

// The client is gorilla/websocket for every server, gorilla's included: an
// independent implementation, not the code under test.

const testTimeout = 10 * time.Second

func TestPeers(t *testing.T) {
	names := make([]string, 0, len(Libs))
	for name := range Libs {
		names = append(names, name)
	}
	sort.Strings(names)
	certFile, keyFile := testCert(t)
	for _, name := range names {
		for _, o := range []Options{{}, {Broadcast: true}, {Compress: true}, {Broadcast: true, Compress: true},
			{Compress: true, Takeover: true},
			{CertFile: certFile, KeyFile: keyFile}, {Broadcast: true, CertFile: certFile, KeyFile: keyFile}} {
			mode := "echo"
			if o.Broadcast {
				mode = "broadcast"
			}
			if o.Compress {
				mode += "/compress"
			}
			if o.Takeover {
				mode += "/takeover"
			}
			if o.TLS() {
				mode += "/wss"
			}
			broadcast := o.Broadcast
			t.Run(name+"/"+mode, func(t *testing.T) {
				compress, secure = o.Compress, o.TLS()
				addr, stop, err := Libs[name].Serve("127.0.0.1:0", o)
				if errors.Is(err, ErrNoCompression) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
				// A cleanup, so it runs after the clients' (LIFO): they
				// close first and shutdowns waiting on close handshakes
				// have nothing to wait for.
				t.Cleanup(func() { stopWithin(t, stop) })
				if broadcast {
					testBroadcast(t, addr)
				} else {
					testEcho(t, addr)
				}
			})
		}
	}
}

type msg struct {
	typ  int
	data []byte
}

// payload is printable ASCII, so a text message is valid UTF-8 for the
// servers that check it.
func payload(n, seed int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + (i+seed)%26)
	}
	return p
}

// compress makes dial offer permessage-deflate, and secure dial wss://
// trusting testCA, for the run in progress (the subtests run one at a
// time).
var compress, secure bool

// testCA signs the certificate the wss:// runs serve.
var testCA = func() *testca.CA {
	ca, err := testca.New()
	if err != nil {
		panic(err)
	}
	return ca
}()

func testCert(t *testing.T) (certFile, keyFile string) {
	certFile, keyFile, _, err := testCA.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func dial(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testTimeout, EnableCompression: compress}
	url := "ws://" + addr + "/"
	if secure {
		d.TLSClientConfig, url = testCA.ClientConfig(""), "wss://"+addr+"/"
	}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); compress != strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("offered compression %v; Sec-WebSocket-Extensions %q", compress, ext)
	}
	deadline := time.Now().Add(testTimeout)
	_ = c.SetReadDeadline(deadline)
	_ = c.SetWriteDeadline(deadline)
	t.Cleanup(func() {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = c.Close()
	})
	return c
}

func expect(t *testing.T, c *websocket.Conn, who string, want msg) {
	t.Helper()
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("%s: read (want %d bytes): %v", who, len(want.data), err)
	}
	if typ != want.typ || !bytes.Equal(data, want.data) {
		t.Fatalf("%s: got type %d, %d bytes; want type %d, %d bytes", who, typ, len(data), want.typ, len(want.data))
	}
}

// testEcho sends every size as text and as binary without waiting, while
// reading: each must come back exact, in order.
func testEcho(t *testing.T, addr string) {
	c := dial(t, addr)
	var msgs []msg
	for i, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		msgs = append(msgs, msg{websocket.TextMessage, payload(n, i)}, msg{websocket.BinaryMessage, payload(n, i+7)})
	}
	werr := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := c.WriteMessage(m.typ, m.data); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	for _, m := range msgs {
		expect(t, c, "echo", m)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
}

// testBroadcast joins 3 clients; each message, from any of them, must reach
// all 3 (the sender too) exactly once and in order.
func testBroadcast(t *testing.T, addr string) {
	var clients []*websocket.Conn
	// Join one at a time: once a newcomer hears its own hello it is
	// registered, and everyone before it must hear that hello too.
	for k := 0; k < 3; k++ {
		clients = append(clients, dial(t, addr))
		hello := msg{websocket.TextMessage, []byte(fmt.Sprintf("hello %d", k))}
		if err := clients[k].WriteMessage(hello.typ, hello.data); err != nil {
			t.Fatalf("client %d: write: %v", k, err)
		}
		for i := 0; i <= k; i++ {
			expect(t, clients[i], fmt.Sprintf("client %d (hello %d)", i, k), hello)
		}
	}
	var msgs []msg
	for i, n := range []int{0, 126, 65536, 1 << 20} {
		msgs = append(msgs, msg{websocket.BinaryMessage, payload(n, i)}, msg{websocket.TextMessage, payload(n, i+3)})
	}
	// The last one is a marker: a duplicate of any earlier message would
	// be read in its place.
	msgs = append(msgs, msg{websocket.TextMessage, []byte("end")})
	for j, m := range msgs {
		from := clients[j%3]
		if err := from.WriteMessage(m.typ, m.data); err != nil {
			t.Fatalf("client %d: write: %v", j%3, err)
		}
		for i, c := range clients {
			expect(t, c, fmt.Sprintf("client %d (message %d from %d)", i, j, j%3), m)
		}
	}
}

func stopWithin(t *testing.T, stop func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Errorf("stop did not return within %v", testTimeout)
	}
}
