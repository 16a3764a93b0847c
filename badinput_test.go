package shoal_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

const upgradeReq = "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// TestBadHandshakes: each bad request gets its HTTP answer and nothing
// else is harmed: a connection opened before keeps echoing.
func TestBadHandshakes(t *testing.T) {
	_, addr := start(t, shoal.Config{Shards: 2})
	bystander := dial(t, addr)
	valid := strings.Replace(upgradeReq, "%s", addr, 1)
	tests := []struct {
		name, req, status string
	}{
		{"plain HTTP request", "GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", "426"},
		{"old version", strings.Replace(valid, "Version: 13", "Version: 8", 1), "426"},
		{"POST", strings.Replace(valid, "GET", "POST", 1), "400"},
		{"HTTP/1.0", strings.Replace(valid, "HTTP/1.1", "HTTP/1.0", 1), "400"},
		{"short key", strings.Replace(valid, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1), "400"},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", "431"},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawExchange(t, addr, tt.req)
			if !strings.HasPrefix(resp, "HTTP/1.1 "+tt.status+" ") {
				t.Fatalf("answer %q, want %s", resp, tt.status)
			}
			if tt.status == "426" && !strings.Contains(resp, "Sec-WebSocket-Version: 13") {
				t.Fatalf("426 without the supported version: %q", resp)
			}
		})
	}
	roundTrip(t, bystander, codec.OpText, []byte("still here"))
}

// TestSlowlorisHandshake: a client that trickles its handshake is closed
// at the handshake deadline, while others are served.
func TestSlowlorisHandshake(t *testing.T) {
	srv, addr := start(t, shoal.Config{HandshakeTimeout: 300 * time.Millisecond})
	bystander := dial(t, addr)
	c := rawConn(t, addr)
	began := time.Now()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	buf := make([]byte, 64)
	for {
		// Keep trickling; the server must cut us off anyway.
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		if n == 0 && err != nil && !isTimeout(err) {
			break
		}
		if _, werr := c.Write([]byte("X")); werr != nil {
			break
		}
		if time.Since(began) > 5*time.Second {
			t.Fatal("slow handshake never closed")
		}
	}
	if d := time.Since(began); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before its deadline", d)
	}
	roundTrip(t, bystander, codec.OpText, []byte("unaffected"))
	if srv.Stats().HandshakeErrors == 0 {
		t.Fatal("handshake timeout not counted")
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	te, ok := err.(timeout)
	return ok && te.Timeout()
}

// TestProtocolViolationsCloseWithCode: each violation closes only its own
// connection, with the RFC's code.
func TestProtocolViolationsCloseWithCode(t *testing.T) {
	_, addr := start(t, shoal.Config{Shards: 2, MaxMessageSize: 1 << 20})
	bystander := dial(t, addr)
	tests := []struct {
		name string
		wire []byte
		code codec.StatusCode
	}{
		{"unmasked frame", codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpText}, []byte("hi")), 1002},
		{"invalid UTF-8", wstest.Build(codec.OpText, true, []byte("bad \xed\xa0\x80")), 1007},
		{"2^63-1 byte frame", codec.AppendHeader(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Length: 1<<63 - 1}), 1009},
		{"top length bit set", append([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, 1, 2, 3, 4), 1002},
		{"over the message limit", codec.AppendHeader(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Length: 1<<20 + 1}), 1009},
		{"reserved opcode", wstest.Build(0xB, true, nil), 1002},
		{"garbage after handshake", []byte("\x00\x00\x00\x00\x00\x00\x00\x00"), 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			c := dial(t, addr)
			c.WriteRaw(tt.wire)
			code, err := c.ExpectClose()
			if err != nil || code != tt.code {
				t.Fatalf("close %v (%v), want %v", code, err, tt.code)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			// A frame announcing exabytes must not make the server
			// allocate anything like it.
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 32<<20 {
				t.Fatalf("heap grew by %d bytes", grew)
			}
		})
	}
	roundTrip(t, bystander, codec.OpBinary, []byte("unaffected"))
}

// TestPingFloodBounded: a client that pings without reading cannot grow
// the server's memory past its outbound limit, and others are served.
func TestPingFloodBounded(t *testing.T) {
	srv, addr := start(t, shoal.Config{MaxOutbound: 64 << 10})
	bystander := dial(t, addr)
	c := dial(t, addr)
	ping := wstest.Build(codec.OpPing, true, []byte(strings.Repeat("p", 125)))
	var burst []byte
	for i := 0; i < 1000; i++ {
		burst = append(burst, ping...)
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Conn.Write(burst); err != nil {
			break // the server stopped reading us, or TCP is full both ways
		}
	}
	if q := srv.Stats().QueuedBytes; q > 64<<10+4<<10 {
		t.Fatalf("%d bytes queued for a ping flood, limit 64 KiB", q)
	}
	roundTrip(t, bystander, codec.OpText, []byte("still served"))
}
