package codec

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// validResponse answers validRequest (RFC 6455 §1.3); every mutation in
// TestCheckResponseRules starts from it.
const validResponse = "HTTP/1.1 101 Switching Protocols\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
	"Sec-WebSocket-Protocol: chat\r\n" +
	"\r\n"

// editResponse returns validResponse with old replaced by new.
func editResponse(old, new string) string {
	if !strings.Contains(validResponse, old) {
		panic("editResponse: " + old + " is not in validResponse")
	}
	return strings.Replace(validResponse, old, new, 1)
}

// rfcClient is the client side of the RFC 6455 §1.3 example.
func rfcClient() *ClientRequest {
	return &ClientRequest{
		Host:      "server.example.com",
		Target:    "/chat?room=lobby",
		Key:       []byte("dGhlIHNhbXBsZSBub25jZQ=="),
		Origin:    "http://example.com",
		Protocols: []string{"chat", "superchat"},
	}
}

func TestNewKey(t *testing.T) {
	k1, k2 := NewKey(), NewKey()
	if !validKey(k1[:]) || !validKey(k2[:]) {
		t.Fatalf("NewKey gave invalid keys %q, %q", k1, k2)
	}
	if k1 == k2 {
		t.Fatalf("NewKey gave %q twice", k1)
	}
}

func TestClientRequestAppend(t *testing.T) {
	c := rfcClient()
	c.Header = []HeaderField{{"User-Agent", "shoal"}, {"Authorization", "Bearer x"}}
	got, err := c.Append([]byte("pre"))
	const want = "preGET /chat?room=lobby HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Origin: http://example.com\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"User-Agent: shoal\r\n" +
		"Authorization: Bearer x\r\n" +
		"\r\n"
	if err != nil || string(got) != want {
		t.Fatalf("Append = %q, %v; want\n%q", got, err, want)
	}

	minimal := ClientRequest{Host: "127.0.0.1:9001", Key: c.Key}
	got, err = minimal.Append(nil)
	const wantMinimal = "GET / HTTP/1.1\r\n" +
		"Host: 127.0.0.1:9001\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n"
	if err != nil || string(got) != wantMinimal {
		t.Fatalf("Append = %q, %v; want\n%q", got, err, wantMinimal)
	}
}

func TestClientRequestAppendErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*ClientRequest)
	}{
		{"no host", func(c *ClientRequest) { c.Host = "" }},
		{"host with CRLF", func(c *ClientRequest) { c.Host = "a\r\nX-Evil: 1" }},
		{"host with space", func(c *ClientRequest) { c.Host = "a b" }},
		{"host with path", func(c *ClientRequest) { c.Host = "a/b" }},
		{"target without slash", func(c *ClientRequest) { c.Target = "chat" }},
		{"target with space", func(c *ClientRequest) { c.Target = "/a b" }},
		{"target with CRLF", func(c *ClientRequest) { c.Target = "/\r\nX-Evil: 1" }},
		{"target ftp", func(c *ClientRequest) { c.Target = "ftp://a/b" }},
		{"target asterisk", func(c *ClientRequest) { c.Target = "*" }},
		{"no key", func(c *ClientRequest) { c.Key = nil }},
		{"short key", func(c *ClientRequest) { c.Key = []byte("AAAAAAAAAAAAAAAAAAAA") }},
		{"key with CRLF", func(c *ClientRequest) { c.Key = []byte("dGhlIHNhbXBsZSBub25j\r\n==") }},
		{"origin with CRLF", func(c *ClientRequest) { c.Origin = "http://a\r\nX-Evil: 1" }},
		{"origin with leading space", func(c *ClientRequest) { c.Origin = " http://a" }},
		{"empty protocol", func(c *ClientRequest) { c.Protocols = []string{""} }},
		{"protocol with comma", func(c *ClientRequest) { c.Protocols = []string{"a,b"} }},
		{"protocol with space", func(c *ClientRequest) { c.Protocols = []string{"a b"} }},
		{"protocol twice", func(c *ClientRequest) { c.Protocols = []string{"chat", "x", "chat"} }},
		{"header name with colon", func(c *ClientRequest) { c.Header = []HeaderField{{"X:Y", "v"}} }},
		{"header empty name", func(c *ClientRequest) { c.Header = []HeaderField{{"", "v"}} }},
		{"header value with LF", func(c *ClientRequest) { c.Header = []HeaderField{{"X", "a\nb"}} }},
		{"header value with NUL", func(c *ClientRequest) { c.Header = []HeaderField{{"X", "a\x00b"}} }},
		{"header value trailing tab", func(c *ClientRequest) { c.Header = []HeaderField{{"X", "a\t"}} }},
		{"header Host", func(c *ClientRequest) { c.Header = []HeaderField{{"host", "b"}} }},
		{"header key", func(c *ClientRequest) { c.Header = []HeaderField{{"SEC-WEBSOCKET-KEY", "b"}} }},
		{"header extensions", func(c *ClientRequest) { c.Header = []HeaderField{{"Sec-WebSocket-Extensions", "permessage-deflate"}} }},
		{"header Content-Length", func(c *ClientRequest) { c.Header = []HeaderField{{"Content-Length", "5"}} }},
		{"header Transfer-Encoding", func(c *ClientRequest) { c.Header = []HeaderField{{"Transfer-Encoding", "chunked"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rfcClient()
			tt.edit(c)
			dst := []byte("pre")
			got, err := c.Append(dst)
			if !errors.Is(err, ErrClientRequest) {
				t.Errorf("Append error = %v, want ErrClientRequest", err)
			}
			if string(got) != "pre" {
				t.Errorf("Append changed dst on error: %q", got)
			}
		})
	}

	// Targets a client may send.
	for _, target := range []string{"/", "/a?b=c", "ws://h:1/x", "https://h"} {
		c := rfcClient()
		c.Target = target
		if _, err := c.Append(nil); err != nil {
			t.Errorf("target %q: %v", target, err)
		}
	}
}

var responseTests = []struct {
	name             string
	resp             string
	err              error
	status           int
	accept, protocol string
}{
	{name: "valid", resp: validResponse, status: 101, accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol: "chat"},
	{name: "no reason", resp: editResponse("101 Switching Protocols", "101"), status: 101, accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol: "chat"},
	{name: "empty reason", resp: editResponse("101 Switching Protocols", "101 "), status: 101, accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol: "chat"},
	{name: "404", resp: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", status: 404},
	{name: "HTTP/1.0 status line", resp: "HTTP/1.0 400 Bad Request\r\n\r\n", status: 400},
	{name: "reason with tab and obs-text", resp: "HTTP/1.1 200 O\tK caf\xc3\xa9\r\n\r\n", status: 200},

	{name: "no space after code", resp: editResponse("101 Switching", "101Switching"), err: ErrBadStatusLine},
	{name: "two-digit code", resp: editResponse("101 Switching", "10 Switching"), err: ErrBadStatusLine},
	{name: "four-digit code", resp: editResponse("101 Switching", "1010 Switching"), err: ErrBadStatusLine},
	{name: "lower-case http", resp: editResponse("HTTP/1.1", "http/1.1"), err: ErrBadStatusLine},
	{name: "HTTP/1.10", resp: editResponse("HTTP/1.1", "HTTP/1.10"), err: ErrBadStatusLine},
	{name: "NUL in reason", resp: editResponse("Switching", "Swit\x00ching"), err: ErrBadStatusLine},
	{name: "empty status line", resp: "\r\n" + validResponse, err: ErrBadStatusLine},
	{name: "space before colon", resp: editResponse("Upgrade:", "Upgrade :"), err: ErrMalformedHeader},
	{name: "obs-fold", resp: editResponse("Connection: Upgrade", "Connection:\r\n Upgrade"), err: ErrMalformedHeader},
	{name: "bare LF", resp: editResponse("Upgrade: websocket\r\n", "Upgrade: websocket\n"), err: ErrMalformedHeader},
	{name: "NUL in value", resp: editResponse("Upgrade: websocket", "Upgrade: web\x00socket"), err: ErrMalformedHeader},
	{name: "bad field name", resp: editResponse("Upgrade:", "Up[grade]:"), err: ErrMalformedHeader},
}

func TestParseResponse(t *testing.T) {
	for _, tt := range responseTests {
		t.Run(tt.name, func(t *testing.T) {
			var resp Response
			b := []byte(tt.resp + "\x81\x05hello")
			n, err := ParseResponse(b, 0, &resp)
			if err != tt.err {
				t.Fatalf("ParseResponse(%q) error = %v, want %v", tt.resp, err, tt.err)
			}
			if err != nil {
				if n != 0 || resp.Status != 0 || resp.head != nil || resp.Accept != nil {
					t.Errorf("on error: n = %d, resp = %+v", n, resp)
				}
				return
			}
			if n != len(tt.resp) || resp.Status != tt.status || string(resp.Accept) != tt.accept || string(resp.Protocol) != tt.protocol {
				t.Errorf("n = %d, status %d, accept %q, protocol %q; want %d, %d, %q, %q",
					n, resp.Status, resp.Accept, resp.Protocol, len(tt.resp), tt.status, tt.accept, tt.protocol)
			}
		})
	}
}

func TestParseResponseFields(t *testing.T) {
	raw := editResponse("Sec-WebSocket-Protocol: chat\r\n", "Server: test\r\nX-Empty:\r\n")
	var resp Response
	if _, err := ParseResponse([]byte(raw), 0, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 1 || resp.ProtoMinor != 1 || resp.Protocol != nil {
		t.Errorf("proto %d.%d, protocol %q", resp.ProtoMajor, resp.ProtoMinor, resp.Protocol)
	}
	if got := resp.Header("server"); string(got) != "test" {
		t.Errorf("Header(server) = %q", got)
	}
	if got := resp.Header("X-Empty"); got == nil || len(got) != 0 {
		t.Errorf("Header(X-Empty) = %q", got)
	}
	if got := resp.Header("X-Missing"); got != nil {
		t.Errorf("Header(X-Missing) = %q", got)
	}
}

func TestParseResponseIncremental(t *testing.T) {
	for i := range len(validResponse) {
		var resp Response
		if n, err := ParseResponse([]byte(validResponse[:i]), 0, &resp); err != ErrNeedMore || n != 0 {
			t.Fatalf("prefix %q: %d, %v; want 0, ErrNeedMore", validResponse[:i], n, err)
		}
	}
	size := len(validResponse)
	var resp Response
	if n, err := ParseResponse([]byte(validResponse), size, &resp); err != nil || n != size {
		t.Errorf("limit = size: %d, %v", n, err)
	}
	if _, err := ParseResponse([]byte(validResponse), size-1, &resp); err != ErrHeaderTooLarge {
		t.Errorf("limit = size-1: %v, want ErrHeaderTooLarge", err)
	}
}

func TestParseResponseFailFast(t *testing.T) {
	tests := []struct {
		in  string
		err error
	}{
		{"H", ErrNeedMore},
		{"HTTP/1.1 1", ErrNeedMore},
		{"HTTP/1.1 101 Switching\r", ErrNeedMore},
		{"HTTP/1.1 101 Switching\r\nUpgrade", ErrNeedMore},
		{"HTTX", ErrBadStatusLine},
		{"<html>", ErrBadStatusLine},
		{"\x16\x03\x03", ErrBadStatusLine},
		{"\r\n", ErrBadStatusLine},
		{"HTTP/1.1 1x", ErrBadStatusLine},
		{"HTTP/1.1 101\x00", ErrBadStatusLine},
		{"HTTP/1.1 101 Switching\r\nUpgrade: websocket\n", ErrMalformedHeader},
		{"SSH-2.0-OpenSSH_9.6\r\n", ErrBadStatusLine},
	}
	for _, tt := range tests {
		var resp Response
		if n, err := ParseResponse([]byte(tt.in), 0, &resp); err != tt.err || n != 0 {
			t.Errorf("ParseResponse(%q) = %d, %v; want 0, %v", tt.in, n, err, tt.err)
		}
	}
}

func TestCheckResponseRules(t *testing.T) {
	tests := []struct {
		name     string
		resp     string
		client   func(*ClientRequest)
		protocol string
		err      error
	}{
		{name: "valid", resp: validResponse, protocol: "chat"},
		{name: "second protocol", resp: editResponse(": chat", ": superchat"), protocol: "superchat"},
		{name: "no protocol", resp: editResponse("Sec-WebSocket-Protocol: chat\r\n", "")},
		{name: "nothing offered, nothing chosen", resp: editResponse("Sec-WebSocket-Protocol: chat\r\n", ""), client: func(c *ClientRequest) { c.Protocols = nil }},
		{name: "header case", resp: strings.ToLower(validResponse[:10]) + validResponse[10:], err: ErrBadStatusLine},
		{name: "mixed-case values", resp: editResponse("Upgrade: websocket\r\nConnection: Upgrade", "UPGRADE: WebSocket\r\nconnection: keep-alive, upgrade"), protocol: "chat"},
		{name: "accept with OWS", resp: editResponse(": s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", ":  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\t"), protocol: "chat"},

		{name: "status 200", resp: editResponse("101 Switching Protocols", "200 OK"), err: ErrBadStatus},
		{name: "status 401", resp: "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n", err: ErrBadStatus},
		{name: "no Upgrade", resp: editResponse("Upgrade: websocket\r\n", ""), err: ErrBadUpgrade},
		{name: "Upgrade h2c", resp: editResponse("Upgrade: websocket", "Upgrade: h2c"), err: ErrBadUpgrade},
		{name: "Upgrade list", resp: editResponse("Upgrade: websocket", "Upgrade: websocket, h2c"), err: ErrBadUpgrade},
		{name: "Upgrade second line", resp: editResponse("Upgrade: websocket", "Upgrade: websocket\r\nUpgrade: h2c"), err: ErrBadUpgrade},
		{name: "Upgrade empty", resp: editResponse("Upgrade: websocket", "Upgrade:"), err: ErrBadUpgrade},
		{name: "no Connection", resp: editResponse("Connection: Upgrade\r\n", ""), err: ErrBadConnection},
		{name: "Connection keep-alive", resp: editResponse("Connection: Upgrade", "Connection: keep-alive"), err: ErrBadConnection},
		{name: "Connection on the first of two lines", resp: editResponse("Connection: Upgrade", "Connection: Upgrade\r\nConnection: keep-alive"), protocol: "chat"},
		{name: "no accept", resp: editResponse("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", ""), err: ErrBadAccept},
		{name: "wrong accept", resp: editResponse("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "s3pPLMBiTxaQ9kYGzzhZRbK+xOQ="), err: ErrBadAccept},
		{name: "accept for another key", resp: validResponse, client: func(c *ClientRequest) { c.Key = []byte("AAAAAAAAAAAAAAAAAAAAAA==") }, err: ErrBadAccept},
		{name: "two accepts", resp: editResponse("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), err: ErrBadAccept},
		{name: "protocol not offered", resp: editResponse(": chat", ": mqtt"), err: ErrBadProtocol},
		{name: "protocol case differs", resp: editResponse(": chat", ": Chat"), err: ErrBadProtocol},
		{name: "protocol list", resp: editResponse(": chat", ": chat, superchat"), err: ErrBadProtocol},
		{name: "two protocols", resp: editResponse(": chat", ": chat\r\nSec-WebSocket-Protocol: chat"), err: ErrBadProtocol},
		{name: "empty protocol", resp: editResponse(": chat", ":"), err: ErrBadProtocol},
		{name: "protocol when none offered", resp: validResponse, client: func(c *ClientRequest) { c.Protocols = nil }, err: ErrBadProtocol},
		{name: "extension", resp: editResponse("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), err: ErrBadExtension},
		{name: "empty extension list", resp: editResponse("\r\n\r\n", "\r\nSec-WebSocket-Extensions: , \r\n\r\n"), protocol: "chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rfcClient()
			if tt.client != nil {
				tt.client(c)
			}
			var resp Response
			_, err := ParseResponse([]byte(tt.resp), 0, &resp)
			var protocol string
			if err == nil {
				protocol, err = c.CheckResponse(&resp)
			}
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || protocol != tt.protocol {
				t.Errorf("got %q, %v; want %q, %v", protocol, err, tt.protocol, tt.err)
			}
		})
	}
}

func TestCheckResponseStatusError(t *testing.T) {
	resp := Response{Status: 403}
	_, err := rfcClient().CheckResponse(&resp)
	if !errors.Is(err, ErrBadStatus) || !strings.Contains(err.Error(), "403") {
		t.Errorf("error %q does not wrap ErrBadStatus with the status", err)
	}
}

// TestRoundTrip runs both roles against each other.
func TestRoundTrip(t *testing.T) {
	key := NewKey()
	for _, tt := range []struct {
		offered, supported []string
		want               string
	}{
		{nil, nil, ""},
		{[]string{"v2.chat", "v1.chat"}, []string{"v1.chat", "v2.chat"}, "v2.chat"},
		{[]string{"v2.chat", "v1.chat"}, []string{"v1.chat"}, "v1.chat"},
		{[]string{"v2.chat"}, []string{"mqtt"}, ""},
	} {
		c := ClientRequest{
			Host: "127.0.0.1:9001", Target: "/ws?x=1", Key: key[:], Origin: "https://app.example",
			Protocols: tt.offered, Header: []HeaderField{{"User-Agent", "shoal-test"}},
		}
		wire, err := c.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		var req Request
		if n, err := ParseRequest(wire, 0, &req); err != nil || n != len(wire) {
			t.Fatalf("ParseRequest(%q) = %d, %v", wire, n, err)
		}
		if string(req.Path) != "/ws" || string(req.Origin) != "https://app.example" || string(req.Header("user-agent")) != "shoal-test" {
			t.Errorf("server saw path %q origin %q", req.Path, req.Origin)
		}
		answer := AppendAccept(nil, &req, req.SelectProtocol(tt.supported))
		answer = append(answer, 0x81, 0x02, 'h', 'i') // a first frame right behind
		var resp Response
		n, err := ParseResponse(answer, 0, &resp)
		if err != nil || string(answer[n:]) != "\x81\x02hi" {
			t.Fatalf("ParseResponse(%q) = %d, %v", answer, n, err)
		}
		if p, err := c.CheckResponse(&resp); err != nil || p != tt.want {
			t.Errorf("CheckResponse = %q, %v; want %q", p, err, tt.want)
		}
	}
}

// TestInteropNetHTTPClient: net/http reads our client request as a valid
// GET, and our client accepts a 101 that net/http writes.
func TestInteropNetHTTPClient(t *testing.T) {
	c := rfcClient()
	wire, err := c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	hreq, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil {
		t.Fatal(err)
	}
	if hreq.Method != "GET" || hreq.RequestURI != "/chat?room=lobby" || hreq.Host != "server.example.com" ||
		hreq.Header.Get("Sec-WebSocket-Key") != "dGhlIHNhbXBsZSBub25jZQ==" || hreq.ContentLength != 0 {
		t.Errorf("net/http read %+v", hreq)
	}

	hresp := http.Response{
		StatusCode: 101, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Upgrade":                {"websocket"},
			"Connection":             {"Upgrade"},
			"Sec-Websocket-Accept":   {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
			"Sec-Websocket-Protocol": {"superchat"},
		},
	}
	var buf bytes.Buffer
	if err := hresp.Write(&buf); err != nil {
		t.Fatal(err)
	}
	var resp Response
	if _, err := ParseResponse(buf.Bytes(), 0, &resp); err != nil {
		t.Fatalf("ParseResponse(%q): %v", buf.Bytes(), err)
	}
	if p, err := c.CheckResponse(&resp); err != nil || p != "superchat" {
		t.Errorf("CheckResponse(%q) = %q, %v", buf.Bytes(), p, err)
	}
}

func TestClientAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := rfcClient()
	c.Target = "/a/rather/long/target/that/does/not/fit/in/32/bytes?with=query"
	c.Header = []HeaderField{{"Authorization", "Bearer abcdefghijklmnopqrstuvwxyz0123456789"}}
	b := []byte(validResponse)
	var resp Response
	dst := make([]byte, 0, 1024)
	tests := []struct {
		name string
		f    func()
	}{
		{"ParseResponse need more", func() { _, _ = ParseResponse(b[:50], 0, &resp) }},
		{"ParseResponse", func() { _, _ = ParseResponse(b, 0, &resp) }},
		{"CheckResponse", func() {
			if _, err := c.CheckResponse(&resp); err != nil {
				panic(err)
			}
		}},
		{"Append", func() {
			var err error
			if dst, err = c.Append(dst[:0]); err != nil {
				panic(err)
			}
		}},
		{"NewKey", func() { _ = NewKey() }},
	}
	for _, tt := range tests {
		tt.f()
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.name, n)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(validResponse)
	var resp Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseResponse(buf, 0, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckResponse(b *testing.B) {
	buf := []byte(validResponse)
	var resp Response
	if _, err := ParseResponse(buf, 0, &resp); err != nil {
		b.Fatal(err)
	}
	c := rfcClient()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CheckResponse(&resp); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseResponse: no input panics ParseResponse or CheckResponse, and
// what ParseResponse accepts it accepts the same way again.
func FuzzParseResponse(f *testing.F) {
	for _, tt := range responseTests {
		f.Add([]byte(tt.resp), uint16(0))
	}
	f.Add([]byte(validResponse+"\x81\x00"), uint16(len(validResponse)))
	f.Add([]byte("HTTP/1.1 101\r\n\r\n"), uint16(5))
	f.Fuzz(func(t *testing.T, b []byte, small uint16) {
		for _, limit := range []int{0, int(small)} {
			checkParseResponse(t, b, limit)
		}
	})
}

func checkParseResponse(t *testing.T, b []byte, maxHeader int) {
	var resp Response
	n, err := ParseResponse(b, maxHeader, &resp)
	if !checkParseContract(t, b, maxHeader, n, err) {
		return
	}
	for _, s := range [][]byte{resp.Accept, resp.Protocol, resp.head} {
		if !within(s, b[:n]) {
			t.Fatalf("field %q is not inside the header block", s)
		}
	}
	if resp.Status < 0 || resp.Status > 999 {
		t.Fatalf("status %d", resp.Status)
	}
	var again Response
	if n2, err := ParseResponse(b[:n], maxHeader, &again); n2 != n || err != nil || !reflect.DeepEqual(again, resp) {
		t.Fatalf("reparse of b[:n]: %d, %v, %+v; want %d, nil, %+v", n2, err, again, n, resp)
	}
	step := max(1, n/64)
	for i := 0; i < n; i += step {
		if _, err := ParseResponse(b[:i], maxHeader, &again); err != ErrNeedMore {
			t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", i, err)
		}
	}
	// CheckResponse must not panic on whatever was accepted, and only
	// returns a protocol the client offered.
	c := rfcClient()
	if p, err := c.CheckResponse(&resp); err == nil && p != "" && p != "chat" && p != "superchat" {
		t.Fatalf("CheckResponse chose %q", p)
	} else if err != nil && p != "" {
		t.Fatalf("CheckResponse returned %q with error %v", p, err)
	}
}
