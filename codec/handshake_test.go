package codec

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// validRequest is the RFC 6455 §1.3 handshake, the baseline every
// mutation in TestParseRequestRules starts from.
const validRequest = "GET /chat?room=lobby HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Origin: http://example.com\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

// edit returns validRequest with old replaced by new; old must be there.
func edit(old, new string) string {
	if !strings.Contains(validRequest, old) {
		panic("edit: " + old + " is not in validRequest")
	}
	return strings.Replace(validRequest, old, new, 1)
}

// Each case breaks one rule of ParseRequest, or shows that a variant
// real clients send is accepted.
var requestRuleTests = []struct {
	name string
	req  string
	err  error
}{
	{"valid", validRequest, nil},

	// Request line.
	{"method POST", edit("GET ", "POST "), ErrMethod},
	{"method lower case", edit("GET ", "get "), ErrMethod},
	{"method GETS", edit("GET ", "GETS "), ErrMethod},
	{"method GE", edit("GET ", "GE "), ErrMethod},
	{"method not a token", edit("GET ", "G(T "), ErrBadRequestLine},
	{"no method", edit("GET ", " "), ErrBadRequestLine},
	{"HTTP/1.0", edit("HTTP/1.1", "HTTP/1.0"), ErrHTTPVersion},
	{"HTTP/0.9", edit("HTTP/1.1", "HTTP/0.9"), ErrHTTPVersion},
	{"HTTP/1.2", edit("HTTP/1.1", "HTTP/1.2"), nil},
	{"HTTP/2.0", edit("HTTP/1.1", "HTTP/2.0"), nil},
	{"HTTP/1.10", edit("HTTP/1.1", "HTTP/1.10"), ErrBadRequestLine},
	{"HTTP/11", edit("HTTP/1.1", "HTTP/11"), ErrBadRequestLine},
	{"HTTP/1.", edit("HTTP/1.1", "HTTP/1."), ErrBadRequestLine},
	{"HTTP/", edit("HTTP/1.1", "HTTP/"), ErrBadRequestLine},
	{"http/1.1", edit("HTTP/1.1", "http/1.1"), ErrBadRequestLine},
	{"no version", edit(" HTTP/1.1", ""), ErrBadRequestLine},
	{"trailing space", edit("HTTP/1.1", "HTTP/1.1 "), ErrBadRequestLine},
	{"two spaces", edit("GET ", "GET  "), ErrBadRequestLine},
	{"tab separator", edit("GET ", "GET\t"), ErrBadRequestLine},
	{"target with NUL", edit("/chat", "/ch\x00at"), ErrBadRequestLine},
	{"target with DEL", edit("/chat", "/ch\x7fat"), ErrBadRequestLine},
	{"target with raw UTF-8", edit("/chat", "/caf\xc3\xa9"), ErrBadRequestLine},
	{"asterisk target", edit("/chat?room=lobby", "*"), ErrBadRequestLine},
	{"authority target", edit("/chat?room=lobby", "server.example.com:80"), ErrBadRequestLine},
	{"absolute ftp", edit("/chat", "ftp://server.example.com/chat"), ErrBadRequestLine},
	{"absolute no host", edit("/chat", "http:///chat"), ErrBadRequestLine},
	{"absolute userinfo", edit("/chat", "http://user@server.example.com/chat"), ErrBadRequestLine},
	{"absolute http", edit("/chat", "http://server.example.com/chat"), nil},
	{"absolute WSS", edit("/chat", "WSS://server.example.com/chat"), nil},
	{"target with pipe", edit("lobby", "a|b{c}"), nil},

	// Host. RFC 9112 §3.2.
	{"no Host", edit("Host: server.example.com\r\n", ""), ErrHost},
	{"two Hosts", edit("Host: server.example.com\r\n", "Host: a.example\r\nHost: a.example\r\n"), ErrHost},
	{"empty Host", edit("Host: server.example.com", "Host:"), ErrHost},
	{"Host with space", edit("Host: server.example.com", "Host: server example.com"), ErrHost},
	{"Host with userinfo", edit("Host: server.example.com", "Host: u@server.example.com"), ErrHost},
	{"Host with port", edit("Host: server.example.com", "Host: 127.0.0.1:9001"), nil},
	{"Host IPv6", edit("Host: server.example.com", "Host: [::1]:9001"), nil},
	{"host lower case", edit("Host:", "host:"), nil},

	// Upgrade.
	{"no Upgrade", edit("Upgrade: websocket\r\n", ""), ErrNotUpgrade},
	{"Upgrade h2c", edit("Upgrade: websocket", "Upgrade: h2c"), ErrNotUpgrade},
	{"Upgrade empty", edit("Upgrade: websocket", "Upgrade:"), ErrNotUpgrade},
	{"Upgrade websocketx", edit("Upgrade: websocket", "Upgrade: websocketx"), ErrNotUpgrade},
	{"Upgrade mixed case", edit("Upgrade: websocket", "UPGRADE: WebSocket"), nil},
	{"Upgrade list", edit("Upgrade: websocket", "Upgrade: h2c, websocket"), nil},
	{"Upgrade two lines", edit("Upgrade: websocket", "Upgrade: h2c\r\nUpgrade: websocket"), nil},
	{"Upgrade first of two lines", edit("Upgrade: websocket", "Upgrade: websocket\r\nUpgrade: h2c"), nil},

	// Connection.
	{"no Connection", edit("Connection: Upgrade\r\n", ""), ErrConnectionHeader},
	{"Connection keep-alive", edit("Connection: Upgrade", "Connection: keep-alive"), ErrConnectionHeader},
	{"Connection keep-alive, Upgrade", edit("Connection: Upgrade", "Connection: keep-alive, Upgrade"), nil},
	{"Connection two lines", edit("Connection: Upgrade", "Connection: keep-alive\r\nconnection: upgrade"), nil},
	{"Connection first of two lines", edit("Connection: Upgrade", "Connection: upgrade\r\nConnection: keep-alive"), nil},
	{"Connection Upgrades", edit("Connection: Upgrade", "Connection: Upgrades"), ErrConnectionHeader},

	// Sec-WebSocket-Version.
	{"version 8", edit("Version: 13", "Version: 8"), ErrVersion},
	{"no version", edit("Sec-WebSocket-Version: 13\r\n", ""), ErrVersion},
	{"version list", edit("Version: 13", "Version: 13, 8"), ErrVersion},
	{"two versions", edit("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13"), ErrVersion},
	{"version 013", edit("Version: 13", "Version: 013"), ErrVersion},
	{"version with OWS", edit("Version: 13", "Version:  13\t"), nil},

	// Sec-WebSocket-Key.
	{"no key", edit("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), ErrKey},
	{"empty key", edit("Key: dGhlIHNhbXBsZSBub25jZQ==", "Key:"), ErrKey},
	{"key 15 bytes", edit("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAA"), ErrKey},
	{"key 17 bytes", edit("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAA="), ErrKey},
	{"key 18 bytes", edit("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAAA"), ErrKey},
	{"key not base64", edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ!="), ErrKey},
	{"key URL alphabet", edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZ_=="), ErrKey},
	{"key unpadded", edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"), ErrKey},
	{"two keys", edit("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), ErrKey},

	// Origin.
	{"no Origin", edit("Origin: http://example.com\r\n", ""), nil},
	{"two Origins", edit("Origin: http://example.com", "Origin: http://example.com\r\nOrigin: http://evil.example"), ErrOriginHeader},

	// A body would be read as frames.
	{"Content-Length 0", edit("Origin:", "Content-Length: 0\r\nOrigin:"), nil},
	{"Content-Length 5", edit("Origin:", "Content-Length: 5\r\nOrigin:"), ErrBody},
	{"Content-Length twice", edit("Origin:", "Content-Length: 0\r\ncontent-length: 12\r\nOrigin:"), ErrBody},
	{"chunked", edit("Origin:", "Transfer-Encoding: chunked\r\nOrigin:"), ErrBody},
	{"any transfer coding", edit("Origin:", "transfer-encoding: identity\r\nOrigin:"), ErrBody},

	// Field syntax.
	{"space before colon", edit("Upgrade:", "Upgrade :"), ErrMalformedHeader},
	{"tab before colon", edit("Upgrade:", "Upgrade\t:"), ErrMalformedHeader},
	{"obs-fold", edit("Connection: Upgrade", "Connection: keep-alive,\r\n Upgrade"), ErrMalformedHeader},
	{"whitespace before first field", edit("\r\nHost", "\r\n Host"), ErrMalformedHeader},
	{"bare LF", edit("Upgrade: websocket\r\n", "Upgrade: websocket\n"), ErrMalformedHeader},
	{"bare CR", edit("Upgrade: websocket", "Upgrade: web\rsocket"), ErrMalformedHeader},
	{"NUL in value", edit("http://example.com", "http://exa\x00mple.com"), ErrMalformedHeader},
	{"ESC in value", edit("http://example.com", "http://exa\x1bmple.com"), ErrMalformedHeader},
	{"tab in value", edit("chat, superchat", "chat,\tsuperchat"), nil},
	{"obs-text in value", edit("Origin: http://example.com", "X-Name: caf\xc3\xa9"), nil},
	{"bad field name", edit("Origin:", "Orig(in):"), ErrMalformedHeader},
	{"empty field name", edit("Origin:", ":"), ErrMalformedHeader},
	{"no colon", edit("Origin: http://example.com", "Origin"), ErrMalformedHeader},
	{"leading CRLF", "\r\n\r\n" + validRequest, nil},
	{"leading bare LF", "\n" + validRequest, ErrBadRequestLine},
}

func TestParseRequestRules(t *testing.T) {
	for _, tt := range requestRuleTests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			b := []byte(tt.req + "\x81\x80trailing frame")
			n, err := ParseRequest(b, 0, &req)
			if err != tt.err {
				t.Fatalf("ParseRequest(%q) error = %v, want %v", tt.req, err, tt.err)
			}
			if err != nil {
				if n != 0 || !reflectZero(&req) {
					t.Errorf("on error n = %d, req = %+v; want 0 and zero", n, req)
				}
				return
			}
			if n != len(tt.req) {
				t.Errorf("n = %d, want %d (the header block)", n, len(tt.req))
			}
		})
	}
}

func reflectZero(req *Request) bool {
	return req.Method == nil && req.Target == nil && req.Path == nil && req.Query == nil &&
		req.Host == nil && req.Origin == nil && req.Key == nil && req.head == nil &&
		req.ProtoMajor == 0 && req.ProtoMinor == 0
}

// requestView is a Request's fields as strings, for comparisons.
type requestView struct {
	Method, Target, Path, Query, Host, Origin, Key string
	QueryNil, OriginNil                            bool
	Major, Minor                                   int
}

func viewOf(r *Request) requestView {
	return requestView{
		string(r.Method), string(r.Target), string(r.Path), string(r.Query), string(r.Host), string(r.Origin), string(r.Key),
		r.Query == nil, r.Origin == nil, r.ProtoMajor, r.ProtoMinor,
	}
}

func TestParseRequestFields(t *testing.T) {
	rfc := requestView{
		Method: "GET", Target: "/chat?room=lobby", Path: "/chat", Query: "room=lobby",
		Host: "server.example.com", Origin: "http://example.com", Key: "dGhlIHNhbXBsZSBub25jZQ==",
		Major: 1, Minor: 1,
	}
	tests := []struct {
		name string
		req  string
		want func(*requestView) // how the result differs from rfc
	}{
		{"RFC 6455 §1.3", validRequest, func(*requestView) {}},
		{"no origin", edit("Origin: http://example.com\r\n", ""), func(v *requestView) { v.Origin, v.OriginNil = "", true }},
		{"plain path", edit("/chat?room=lobby", "/"), func(v *requestView) {
			v.Target, v.Path, v.Query, v.QueryNil = "/", "/", "", true
		}},
		{"empty query", edit("/chat?room=lobby", "/chat?"), func(v *requestView) { v.Target, v.Query = "/chat?", "" }},
		{"split at the first ?", edit("/chat?room=lobby", "/a%20b?x=?y"), func(v *requestView) {
			v.Target, v.Path, v.Query = "/a%20b?x=?y", "/a%20b", "x=?y"
		}},
		{"absolute-form takes its host", edit("/chat", "ws://proxy.example:8080/chat"), func(v *requestView) {
			v.Target, v.Host = "ws://proxy.example:8080/chat?room=lobby", "proxy.example:8080"
		}},
		{"absolute-form without path", edit("/chat?room=lobby", "https://server.example.com?x"), func(v *requestView) {
			v.Target, v.Path, v.Query = "https://server.example.com?x", "", "x"
		}},
		{"HTTP/2.0", edit("HTTP/1.1", "HTTP/2.0"), func(v *requestView) { v.Major, v.Minor = 2, 0 }},
		{"OWS trimmed", edit("Key: dGhlIHNhbXBsZSBub25jZQ==", "Key: \t dGhlIHNhbXBsZSBub25jZQ== \t"), func(*requestView) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			if _, err := ParseRequest([]byte(tt.req), 0, &req); err != nil {
				t.Fatal(err)
			}
			want := rfc
			tt.want(&want)
			if got := viewOf(&req); got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRequestHeader(t *testing.T) {
	raw := edit("Origin: http://example.com\r\n", "X-Empty:\r\nX-Twice: first\r\nx-twice: second\r\n")
	var req Request
	if _, err := ParseRequest([]byte(raw), 0, &req); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		isNil      bool
	}{
		{name: "sec-websocket-version", want: "13"},
		{name: "SEC-WEBSOCKET-KEY", want: "dGhlIHNhbXBsZSBub25jZQ=="},
		{name: "X-Twice", want: "first"},
		{name: "X-Empty", want: ""},
		{name: "X-Missing", isNil: true},
		{name: "Origin", isNil: true},
		{name: "", isNil: true},
	}
	for _, tt := range tests {
		got := req.Header(tt.name)
		if string(got) != tt.want || (got == nil) != tt.isNil {
			t.Errorf("Header(%q) = %q (nil: %v), want %q (nil: %v)", tt.name, got, got == nil, tt.want, tt.isNil)
		}
	}
	var zero Request
	if got := zero.Header("Host"); got != nil {
		t.Errorf("zero Request Header = %q", got)
	}
}

func TestProtocols(t *testing.T) {
	tests := []struct {
		name      string
		lines     string // Sec-WebSocket-Protocol lines replacing the baseline's
		offered   []string
		supported []string
		selected  string
	}{
		{"client order wins", "Sec-WebSocket-Protocol: chat, superchat\r\n", []string{"chat", "superchat"}, []string{"superchat", "chat"}, "chat"},
		{"second choice", "Sec-WebSocket-Protocol: chat, superchat\r\n", []string{"chat", "superchat"}, []string{"superchat"}, "superchat"},
		{"no overlap", "Sec-WebSocket-Protocol: chat, superchat\r\n", []string{"chat", "superchat"}, []string{"mqtt"}, ""},
		{"server supports none", "Sec-WebSocket-Protocol: chat\r\n", []string{"chat"}, nil, ""},
		{"none offered", "", nil, []string{"chat"}, ""},
		{"case-sensitive", "Sec-WebSocket-Protocol: Chat\r\n", []string{"Chat"}, []string{"chat"}, ""},
		{"several lines", "Sec-WebSocket-Protocol: a\r\nsec-websocket-protocol: b, c\r\n", []string{"a", "b", "c"}, []string{"c", "b"}, "b"},
		{"empty elements", "Sec-WebSocket-Protocol: , a,, b ,\r\n", []string{"a", "b"}, []string{"b"}, "b"},
		{"empty value", "Sec-WebSocket-Protocol:\r\n", nil, []string{""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := edit("Sec-WebSocket-Protocol: chat, superchat\r\n", tt.lines)
			var req Request
			if _, err := ParseRequest([]byte(raw), 0, &req); err != nil {
				t.Fatal(err)
			}
			var got []string
			toks := req.Protocols()
			for tok, ok := toks.Next(); ok; tok, ok = toks.Next() {
				got = append(got, string(tok))
			}
			if !slices.Equal(got, tt.offered) {
				t.Errorf("Protocols = %q, want %q", got, tt.offered)
			}
			for _, p := range tt.offered {
				if !req.OffersProtocol(p) {
					t.Errorf("OffersProtocol(%q) = false", p)
				}
			}
			if req.OffersProtocol("nope") || req.OffersProtocol("") {
				t.Errorf("OffersProtocol of an unoffered protocol = true")
			}
			if sel := req.SelectProtocol(tt.supported); sel != tt.selected {
				t.Errorf("SelectProtocol(%q) = %q, want %q", tt.supported, sel, tt.selected)
			}
		})
	}
}

func TestExtensions(t *testing.T) {
	raw := edit("Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-webkit-deflate-frame\r\n"+
		"Sec-WebSocket-Extensions: foo ;a=1; b=\"2\"\r\n")
	var req Request
	if _, err := ParseRequest([]byte(raw), 0, &req); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"permessage-deflate", "client_max_window_bits"},
		{"x-webkit-deflate-frame", ""},
		{"foo", "a=1; b=\"2\""},
	}
	var got [][2]string
	toks := req.Extensions()
	for elem, ok := toks.Next(); ok; elem, ok = toks.Next() {
		name, params := SplitExtension(elem)
		got = append(got, [2]string{string(name), string(params)})
	}
	if !slices.Equal(got, want) {
		t.Errorf("extensions = %q, want %q", got, want)
	}
	if name, params := SplitExtension([]byte(" x ")); string(name) != "x" || params != nil {
		t.Errorf("SplitExtension(x) = %q, %q", name, params)
	}
}

// TestParseRequestLimit: the limit covers the whole block, skipped empty
// lines included, and a block exactly at the limit is accepted.
func TestParseRequestLimit(t *testing.T) {
	for _, raw := range []string{validRequest, "\r\n" + validRequest} {
		size := len(raw)
		b := []byte(raw + "frames")
		var req Request
		if n, err := ParseRequest(b, size, &req); err != nil || n != size {
			t.Errorf("limit = block size: n, err = %d, %v; want %d, nil", n, err, size)
		}
		if n, err := ParseRequest(b, size-1, &req); err != ErrHeaderTooLarge || n != 0 {
			t.Errorf("limit = block size - 1: n, err = %d, %v; want 0, ErrHeaderTooLarge", n, err)
		}
		if n, err := ParseRequest(b[:size-1], size, &req); err != ErrNeedMore || n != 0 {
			t.Errorf("one byte short, under the limit: n, err = %d, %v; want 0, ErrNeedMore", n, err)
		}
		if n, err := ParseRequest(b[:size-1], size-1, &req); err != ErrHeaderTooLarge || n != 0 {
			t.Errorf("one byte short, at the limit: n, err = %d, %v; want 0, ErrHeaderTooLarge", n, err)
		}
	}

	// The default limit applies for maxHeader <= 0.
	pad := "X-Pad: " + strings.Repeat("a", DefaultMaxHeaderBytes-len(validRequest)-len("X-Pad: \r\n")) + "\r\n"
	big := edit("Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13\r\n"+pad)
	if len(big) != DefaultMaxHeaderBytes {
		t.Fatalf("test bug: len(big) = %d", len(big))
	}
	var req Request
	for _, maxHeader := range []int{0, -1} {
		if n, err := ParseRequest([]byte(big), maxHeader, &req); err != nil || n != len(big) {
			t.Errorf("maxHeader %d, block of DefaultMaxHeaderBytes: %d, %v", maxHeader, n, err)
		}
		bigger := strings.Replace(big, "X-Pad: ", "X-Pad: a", 1)
		if _, err := ParseRequest([]byte(bigger), maxHeader, &req); err != ErrHeaderTooLarge {
			t.Errorf("maxHeader %d, one byte over: %v", maxHeader, err)
		}
	}
	if _, err := ParseRequest([]byte("GET /"+strings.Repeat("a", 10000)), 0, &req); err != ErrHeaderTooLarge {
		t.Errorf("endless request line: %v, want ErrHeaderTooLarge", err)
	}
	if _, err := ParseRequest([]byte(strings.Repeat("\r\n", 5000)), 0, &req); err != ErrHeaderTooLarge {
		t.Errorf("endless empty lines: %v, want ErrHeaderTooLarge", err)
	}
}

// TestParseRequestIncremental feeds every prefix of a request: all of
// them need more, and the whole gives the same result as in one piece.
func TestParseRequestIncremental(t *testing.T) {
	for _, raw := range []string{validRequest, "\r\n" + validRequest, chromeRequest, firefoxRequest} {
		for i := range len(raw) {
			var req Request
			if n, err := ParseRequest([]byte(raw[:i]), 0, &req); err != ErrNeedMore || n != 0 {
				t.Fatalf("prefix %q: n, err = %d, %v; want 0, ErrNeedMore", raw[:i], n, err)
			}
		}
		var whole, pieces Request
		b := []byte(raw + "\x88\x80")
		n1, err1 := ParseRequest(b, 0, &whole)
		n2, err2 := ParseRequest(b[:len(raw)], 0, &pieces)
		if err1 != nil || err2 != nil || n1 != len(raw) || n2 != n1 {
			t.Fatalf("whole: %d, %v; exact: %d, %v; want %d", n1, err1, n2, err2, len(raw))
		}
		if !reflect.DeepEqual(whole, pieces) {
			t.Errorf("results differ:\n%+v\n%+v", whole, pieces)
		}
	}
}

// TestParseRequestFailFast: input that can no longer become a valid
// handshake is rejected before the header block is complete.
func TestParseRequestFailFast(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"POST", "POST", ErrMethod},
		{"P", "P", ErrMethod},
		{"lower case", "g", ErrMethod},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ErrMethod},
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", ErrBadRequestLine},
		{"binary", "\x00\x00\x00", ErrBadRequestLine},
		{"space first", " GET", ErrBadRequestLine},
		{"CR CR", "\r\r", ErrBadRequestLine},
		{"empty target", "GET  ", ErrBadRequestLine},
		{"bad target", "GET x\x01", ErrBadRequestLine},
		{"target not / or scheme", "GET ?a", ErrBadRequestLine},
		{"bad version", "GET / HTTPS", ErrBadRequestLine},
		{"version too long", "GET / HTTP/1.11", ErrBadRequestLine},
		{"HTTP/1.0 line complete", "GET / HTTP/1.0\r\nHost: a\r\n", ErrHTTPVersion},
		{"bad absolute target, line complete", "GET ftp://a/ HTTP/1.1\r\n", ErrBadRequestLine},
		{"bare LF after request line", "GET / HTTP/1.1\nHost: a", ErrMalformedHeader},
		{"bare LF in a field", "GET / HTTP/1.1\r\nHost: a\nUpgrade", ErrMalformedHeader},
		{"bad method beats bare LF", "PUT / HTTP/1.1\n", ErrMethod},
		{"bad method beats size", "POST /" + strings.Repeat("a", 100), ErrMethod},
		{"after empty lines", "\r\n\r\nPOST", ErrMethod},

		{"G", "G", ErrNeedMore},
		{"GET", "GET", ErrNeedMore},
		{"GET /", "GET /", ErrNeedMore},
		{"GET / HTTP/1.", "GET / HTTP/1.", ErrNeedMore},
		{"line done", "GET / HTTP/1.1\r\n", ErrNeedMore},
		{"absolute target start", "GET h", ErrNeedMore},
		{"empty line", "\r\n", ErrNeedMore},
		{"CR", "\r", ErrNeedMore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			if n, err := ParseRequest([]byte(tt.in), 64, &req); err != tt.err || n != 0 {
				t.Errorf("ParseRequest(%q) = %d, %v; want 0, %v", tt.in, n, err, tt.err)
			}
		})
	}
}

func TestAppendAcceptKey(t *testing.T) {
	tests := []struct{ key, want string }{
		// RFC 6455 §1.3.
		{"dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
		// RFC 6455 §1.3 computes the hash over the key as sent.
		{"", "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w="},
		// Longer than the stack buffer: same algorithm.
		{strings.Repeat("k", 100), acceptKeyReference(strings.Repeat("k", 100))},
		{strings.Repeat("k", 64), acceptKeyReference(strings.Repeat("k", 64))},
		{strings.Repeat("k", 65), acceptKeyReference(strings.Repeat("k", 65))},
	}
	for _, tt := range tests {
		got := AppendAcceptKey([]byte("prefix:"), []byte(tt.key))
		if string(got) != "prefix:"+tt.want {
			t.Errorf("AppendAcceptKey(%q) = %q, want %q", tt.key, got, "prefix:"+tt.want)
		}
	}
}

func TestAppendAccept(t *testing.T) {
	var req Request
	if _, err := ParseRequest([]byte(validRequest), 0, &req); err != nil {
		t.Fatal(err)
	}
	const head = "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	tests := []struct{ protocol, want string }{
		{"", head + "\r\n"},
		{"chat", head + "Sec-WebSocket-Protocol: chat\r\n\r\n"},
		{"superchat", head + "Sec-WebSocket-Protocol: superchat\r\n\r\n"},
		{"mqtt", head + "\r\n"},              // not offered
		{"Chat", head + "\r\n"},              // not offered: case-sensitive
		{"chat\r\nX-Evil: 1", head + "\r\n"}, // not a token
		{"chat, superchat", head + "\r\n"},   // one value only
	}
	for _, tt := range tests {
		got := AppendAccept([]byte("pre"), &req, tt.protocol)
		if string(got) != "pre"+tt.want {
			t.Errorf("AppendAccept(%q) =\n%q\nwant\n%q", tt.protocol, got, "pre"+tt.want)
		}
	}
}

func TestAppendReject(t *testing.T) {
	tests := []struct {
		status int
		reason string
		want   string
	}{
		{400, "method must be GET", "HTTP/1.1 400 Bad Request\r\n" +
			"Connection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n" +
			"Content-Length: 19\r\n" +
			"\r\n" +
			"method must be GET\n"},
		{426, "Sec-WebSocket-Version must be 13", "HTTP/1.1 426 Upgrade Required\r\n" +
			"Connection: Upgrade, close\r\n" +
			"Upgrade: websocket\r\n" +
			"Sec-WebSocket-Version: 13\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n" +
			"Content-Length: 33\r\n" +
			"\r\n" +
			"Sec-WebSocket-Version must be 13\n"},
		{403, "", "HTTP/1.1 403 Forbidden\r\n" +
			"Connection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n" +
			"Content-Length: 1\r\n" +
			"\r\n" +
			"\n"},
		{431, "x", "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nx\n"},
		{499, "x", "HTTP/1.1 499 Error\r\nConnection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nx\n"},
		{101, "x", "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nx\n"},
		{200, "x", "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nx\n"},
		{-1, "x", "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nx\n"},
	}
	for _, tt := range tests {
		if got := AppendReject(nil, tt.status, tt.reason); string(got) != tt.want {
			t.Errorf("AppendReject(%d, %q) =\n%q\nwant\n%q", tt.status, tt.reason, got, tt.want)
		}
	}
}

func TestAppendRejectError(t *testing.T) {
	tests := []struct {
		err        error
		statusLine string
		body       string
	}{
		{ErrVersion, "HTTP/1.1 426 Upgrade Required", ErrVersion.Reason + "\n"},
		{ErrHeaderTooLarge, "HTTP/1.1 431 Request Header Fields Too Large", ErrHeaderTooLarge.Reason + "\n"},
		{ErrForbiddenOrigin, "HTTP/1.1 403 Forbidden", "origin not allowed\n"},
		{ErrOverloaded, "HTTP/1.1 503 Service Unavailable", ErrOverloaded.Reason + "\n"},
		{fmt.Errorf("reading: %w", ErrKey), "HTTP/1.1 400 Bad Request", ErrKey.Reason + "\n"},
		{errors.New("boom"), "HTTP/1.1 400 Bad Request", "boom\n"},
		{nil, "HTTP/1.1 400 Bad Request", "bad handshake\n"},
	}
	for _, tt := range tests {
		got := string(AppendRejectError(nil, tt.err))
		if !strings.HasPrefix(got, tt.statusLine+"\r\n") || !strings.HasSuffix(got, "\r\n\r\n"+tt.body) {
			t.Errorf("AppendRejectError(%v) =\n%q", tt.err, got)
		}
	}
}

// A 503 tells the client when to come back (RFC 9110 §10.2.3).
func TestRejectOverloadedRetryAfter(t *testing.T) {
	got := string(AppendRejectError(nil, ErrOverloaded))
	if !strings.Contains(got, "\r\nRetry-After: 1\r\n") || !strings.Contains(got, "\r\nConnection: close\r\n") {
		t.Fatalf("503 answer lacks Retry-After or Connection: close:\n%q", got)
	}
}

func TestHandshakeError(t *testing.T) {
	if got := ErrMethod.Error(); got != "websocket: handshake: method must be GET" {
		t.Errorf("ErrMethod.Error() = %q", got)
	}
	wrapped := fmt.Errorf("conn 7: %w", ErrNotUpgrade)
	if !errors.Is(wrapped, ErrNotUpgrade) || errors.Is(wrapped, ErrConnectionHeader) {
		t.Error("errors.Is does not tell the sentinels apart")
	}
	statuses := map[*HandshakeError]int{
		ErrHeaderTooLarge: 431, ErrBadRequestLine: 400, ErrMethod: 400, ErrHTTPVersion: 400,
		ErrHost: 400, ErrNotUpgrade: 426, ErrConnectionHeader: 400, ErrVersion: 426,
		ErrKey: 400, ErrOriginHeader: 400, ErrMalformedHeader: 400, ErrForbiddenOrigin: 403,
		ErrBody: 400, ErrOverloaded: 503,
	}
	for e, status := range statuses {
		if e.Status != status {
			t.Errorf("%q: status %d, want %d", e.Reason, e.Status, status)
		}
	}
}

// Requests as browsers send them (header order and casing from Chrome
// and Firefox).
const chromeRequest = "GET /socket HTTP/1.1\r\n" +
	"Host: localhost:9001\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: http://localhost:8080\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"\r\n"

const firefoxRequest = "GET /socket?token=abc HTTP/1.1\r\n" +
	"Host: localhost:9001\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Origin: http://localhost:8080\r\n" +
	"Sec-WebSocket-Protocol: graphql-ws\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Connection: keep-alive, Upgrade\r\n" +
	"Sec-Fetch-Dest: websocket\r\n" +
	"Sec-Fetch-Mode: websocket\r\n" +
	"Sec-Fetch-Site: same-site\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Upgrade: websocket\r\n" +
	"\r\n"

func TestParseRequestBrowsers(t *testing.T) {
	for _, raw := range []string{chromeRequest, firefoxRequest} {
		var req Request
		if n, err := ParseRequest([]byte(raw), 0, &req); err != nil || n != len(raw) {
			t.Errorf("ParseRequest(%.20q...) = %d, %v", raw, n, err)
		}
	}
}

// TestInteropNetHTTPRequest: what net/http writes for a WebSocket dial
// (as gorilla/websocket and others build it) parses, in origin-form and,
// as a proxy would send it, in absolute-form.
func TestInteropNetHTTPRequest(t *testing.T) {
	hreq, err := http.NewRequest("GET", "http://example.com:8080/chat?room=lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	// gorilla/websocket sets these with direct map writes, keeping the
	// exact case; browsers send them the same way.
	hreq.Header["Upgrade"] = []string{"websocket"}
	hreq.Header["Connection"] = []string{"Upgrade"}
	hreq.Header["Sec-WebSocket-Key"] = []string{"dGhlIHNhbXBsZSBub25jZQ=="}
	hreq.Header["Sec-WebSocket-Version"] = []string{"13"}
	hreq.Header["Sec-WebSocket-Protocol"] = []string{"chat, superchat"}
	hreq.Header.Set("Origin", "http://example.com")
	// Header.Set canonicalizes to "Sec-Websocket-Extensions".
	hreq.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")

	for _, write := range []struct {
		name  string
		write func(io.Writer) error
		host  string
	}{
		{"Write", hreq.Write, "example.com:8080"},
		{"WriteProxy", hreq.WriteProxy, "example.com:8080"},
	} {
		var buf bytes.Buffer
		if err := write.write(&buf); err != nil {
			t.Fatal(err)
		}
		var req Request
		n, err := ParseRequest(buf.Bytes(), 0, &req)
		if err != nil || n != buf.Len() {
			t.Fatalf("%s: ParseRequest(%q) = %d, %v", write.name, buf.Bytes(), n, err)
		}
		if string(req.Path) != "/chat" || string(req.Query) != "room=lobby" || string(req.Host) != write.host {
			t.Errorf("%s: path %q, query %q, host %q", write.name, req.Path, req.Query, req.Host)
		}
		if p := req.SelectProtocol([]string{"superchat"}); p != "superchat" {
			t.Errorf("%s: SelectProtocol = %q", write.name, p)
		}
		if ext := req.Header("sec-websocket-extensions"); string(ext) != "permessage-deflate; client_max_window_bits" {
			t.Errorf("%s: extensions %q", write.name, ext)
		}
	}
}

// TestInteropNetHTTPResponse: net/http reads our 101 and our rejections.
func TestInteropNetHTTPResponse(t *testing.T) {
	var req Request
	if _, err := ParseRequest([]byte(validRequest), 0, &req); err != nil {
		t.Fatal(err)
	}
	out := AppendAccept(nil, &req, req.SelectProtocol([]string{"chat"}))
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
		t.Errorf("status %d, proto %d.%d", resp.StatusCode, resp.ProtoMajor, resp.ProtoMinor)
	}
	for name, want := range map[string]string{
		"Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol": "chat",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	for _, e := range []*HandshakeError{ErrVersion, ErrMethod, ErrHeaderTooLarge, ErrForbiddenOrigin} {
		out := AppendRejectError(nil, e)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("%v: %v", e, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != e.Status || string(body) != e.Reason+"\n" || !resp.Close {
			t.Errorf("%v: status %d, body %q, close %v, err %v", e, resp.StatusCode, body, resp.Close, err)
		}
		if e.Status == 426 && (resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Sec-WebSocket-Version") != "13") {
			t.Errorf("426 without Upgrade or Sec-WebSocket-Version: %q", out)
		}
	}
}

func TestParseRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := []byte(firefoxRequest)
	var req Request
	dst := make([]byte, 0, 512)
	supported := []string{"graphql-ws"}
	post := []byte("POST / HTTP/1.1\r\n")
	badKey := []byte(edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"))
	tests := []struct {
		name string
		f    func()
	}{
		{"ParseRequest need more", func() { _, _ = ParseRequest(b[:100], 0, &req) }},
		{"ParseRequest fail fast", func() { _, _ = ParseRequest(post, 0, &req) }},
		{"ParseRequest bad key", func() { _, _ = ParseRequest(badKey, 0, &req) }},
		{"ParseRequest", func() {
			if _, err := ParseRequest(b, 0, &req); err != nil {
				panic(err)
			}
		}},
		{"AppendAccept", func() { dst = AppendAccept(dst[:0], &req, req.SelectProtocol(supported)) }},
		{"AppendAcceptKey", func() { dst = AppendAcceptKey(dst[:0], req.Key) }},
		{"AppendReject", func() { dst = AppendReject(dst[:0], ErrVersion.Status, ErrVersion.Reason) }},
		{"Header", func() { _ = req.Header("User-Agent") }},
		{"Protocols", func() {
			toks := req.Protocols()
			for _, ok := toks.Next(); ok; _, ok = toks.Next() {
			}
		}},
	}
	for _, tt := range tests {
		tt.f() // warm up, and fill req
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.name, n)
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	for _, bm := range []struct{ name, req string }{
		{"rfc", validRequest}, {"chrome", chromeRequest}, {"firefox", firefoxRequest},
	} {
		b.Run(bm.name, func(b *testing.B) {
			buf := []byte(bm.req)
			var req Request
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := ParseRequest(buf, 0, &req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendAccept(b *testing.B) {
	var req Request
	if _, err := ParseRequest([]byte(validRequest), 0, &req); err != nil {
		b.Fatal(err)
	}
	dst := AppendAccept(nil, &req, "chat")
	b.ReportAllocs()
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		dst = AppendAccept(dst[:0], &req, "chat")
	}
}

// acceptKeyReference computes the accept value independently of the
// stack-buffer code under test.
func acceptKeyReference(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// within reports whether s lies inside b (or is empty).
func within(s, b []byte) bool {
	if len(s) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(b))
}

// FuzzParseRequest: no input panics ParseRequest, its results keep to
// its contract, and what it accepts it accepts the same way again.
func FuzzParseRequest(f *testing.F) {
	for _, tt := range requestRuleTests {
		f.Add([]byte(tt.req), uint16(0))
	}
	f.Add([]byte(chromeRequest), uint16(300))
	f.Add([]byte(firefoxRequest+"\x81\x85"), uint16(len(firefoxRequest)))
	f.Add([]byte("GET / HTTP/1.1\r\n"), uint16(10))
	f.Fuzz(func(t *testing.T, b []byte, small uint16) {
		for _, limit := range []int{0, int(small)} {
			checkParseRequest(t, b, limit)
		}
	})
}

func checkParseRequest(t *testing.T, b []byte, maxHeader int) {
	var req Request
	n, err := ParseRequest(b, maxHeader, &req)
	if !checkParseContract(t, b, maxHeader, n, err) {
		return
	}
	for _, s := range [][]byte{req.Method, req.Target, req.Path, req.Query, req.Host, req.Origin, req.Key, req.head} {
		if !within(s, b[:n]) {
			t.Fatalf("field %q is not inside the header block", s)
		}
	}
	var again Request
	if n2, err := ParseRequest(b[:n], maxHeader, &again); n2 != n || err != nil || !reflect.DeepEqual(again, req) {
		t.Fatalf("reparse of b[:n]: %d, %v, %+v; want %d, nil, %+v", n2, err, again, n, req)
	}
	// Fail fast must never reject the start of a request it accepts.
	step := max(1, n/64)
	for i := 0; i < n; i += step {
		if _, err := ParseRequest(b[:i], maxHeader, &again); err != ErrNeedMore {
			t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", i, err)
		}
	}
	// What the server accepts, our client accepts the answer to.
	resp := AppendAccept(nil, &req, req.SelectProtocol([]string{string(firstProtocol(&req))}))
	var r Response
	if m, err := ParseResponse(resp, 0, &r); err != nil || m != len(resp) {
		t.Fatalf("ParseResponse(AppendAccept) = %d, %v for %q", m, err, resp)
	}
	c := ClientRequest{Key: req.Key, Protocols: []string{string(firstProtocol(&req))}}
	if _, err := c.CheckResponse(&r); err != nil {
		t.Fatalf("CheckResponse(AppendAccept) = %v for %q", err, resp)
	}
}

// checkParseContract checks what ParseRequest and ParseResponse promise
// about n and their errors for input b, and reports whether they parsed.
func checkParseContract(t *testing.T, b []byte, maxHeader, n int, err error) bool {
	t.Helper()
	limit := headerLimit(maxHeader)
	switch {
	case n < 0 || n > len(b) || n > limit:
		t.Fatalf("n = %d out of range (len %d, limit %d)", n, len(b), limit)
	case err != nil && n != 0:
		t.Fatalf("error %v with n = %d", err, n)
	case !isSentinel(err) && err != nil:
		t.Fatalf("unexpected error %#v", err)
	case err == ErrNeedMore && len(b) >= limit:
		t.Fatalf("ErrNeedMore with %d bytes, limit %d", len(b), limit)
	case err == ErrHeaderTooLarge && len(b) < limit:
		t.Fatalf("ErrHeaderTooLarge with %d bytes, limit %d", len(b), limit)
	}
	return err == nil
}

func firstProtocol(req *Request) []byte {
	t := req.Protocols()
	p, _ := t.Next()
	return p
}
