package shoal

import (
	"testing"

	"github.com/shoalws/shoal/codec"
)

const testHandshake = "GET /rooms/lobby?token=abc%20d&empty=&flag HTTP/1.1\r\nHost: chat.example\r\n" +
	"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Version: 13\r\nCookie: theme=dark; session=\"s3cret\"; other=1\r\nX-Trace: 7\r\n\r\n"

func parsedRequest(t testing.TB) *Request {
	var req codec.Request
	if _, err := codec.ParseRequest([]byte(testHandshake), 0, &req); err != nil {
		t.Fatal(err)
	}
	return &Request{req: &req}
}

func TestRequestView(t *testing.T) {
	r := parsedRequest(t)
	tests := []struct {
		name, got, want string
		isNil           bool
	}{
		{"method", string(r.Method()), "GET", false},
		{"path", string(r.Path()), "/rooms/lobby", false},
		{"query", string(r.Query()), "token=abc%20d&empty=&flag", false},
		{"query value", string(r.QueryValue("token")), "abc%20d", false},
		{"empty query value", string(r.QueryValue("empty")), "", r.QueryValue("empty") == nil},
		{"missing query value", "", "", r.QueryValue("nope") != nil},
		{"query key alone", string(r.QueryValue("flag")), "", r.QueryValue("flag") == nil},
		{"host", string(r.Host()), "chat.example", false},
		{"header", string(r.Header("x-trace")), "7", false},
		{"cookie", string(r.Cookie("session")), "s3cret", false},
		{"first cookie", string(r.Cookie("theme")), "dark", false},
		{"missing cookie", "", "", r.Cookie("sess") != nil},
	}
	for _, tt := range tests {
		if tt.got != tt.want || tt.isNil {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	r.SetHeader("Set-Cookie", "a=b")
	r.SetHeader("Upgrade", "h2c")            // the handshake's own
	r.SetHeader("X-Bad", "a\r\nInjected: 1") // a line break
	r.SetHeader("Bad Name", "v")             // not a token
	if string(r.fields) != "Set-Cookie: a=b\r\n" {
		t.Errorf("fields %q", r.fields)
	}
}

// TestRequestViewZeroAlloc: reading a request to authenticate and route
// it allocates nothing.
func TestRequestViewZeroAlloc(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts are not meaningful under -race")
	}
	r := parsedRequest(t)
	n := testing.AllocsPerRun(100, func() {
		_ = r.Path()
		_ = r.QueryValue("token")
		_ = r.Header("Authorization")
		_ = r.Cookie("session")
		_ = r.Host()
	})
	if n != 0 {
		t.Fatalf("%v allocations reading a request", n)
	}
}
