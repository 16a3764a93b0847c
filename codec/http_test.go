package codec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestScanHead(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		limit      int
		skipEmpty  bool
		start, end int
		err        error
	}{
		{name: "complete", in: "A\r\nB: c\r\n\r\nrest", limit: 100, end: 11},
		{name: "start line only", in: "A\r\n\r\n", limit: 100, end: 5},
		{name: "empty block", in: "\r\n", limit: 100, end: 2},
		{name: "unfinished", in: "A\r\nB: c\r\n", limit: 100, err: ErrNeedMore},
		{name: "half CRLF", in: "A\r\nB: c\r\n\r", limit: 100, err: ErrNeedMore},
		{name: "nothing", in: "", limit: 100, err: ErrNeedMore},
		{name: "bare LF ends line", in: "A\r\nB: c\nD", limit: 100, err: ErrMalformedHeader},
		{name: "bare LF first", in: "\nA", limit: 100, err: ErrMalformedHeader},
		{name: "LF LF", in: "A\n\n", limit: 100, err: ErrMalformedHeader},
		{name: "exactly at limit", in: "A\r\n\r\n", limit: 5, end: 5},
		{name: "one over limit", in: "A\r\n\r\n", limit: 4, err: ErrHeaderTooLarge},
		{name: "at limit unfinished", in: "A\r\nBBBB", limit: 7, err: ErrHeaderTooLarge},
		{name: "below limit unfinished", in: "A\r\nBBB", limit: 7, err: ErrNeedMore},
		{name: "bare LF past limit is not seen", in: "A\r\nBC\n", limit: 5, err: ErrHeaderTooLarge},
		{name: "skip empty lines", in: "\r\n\r\nA\r\n\r\n", limit: 100, skipEmpty: true, start: 4, end: 9},
		{name: "skipped lines count", in: "\r\n\r\nA\r\n\r\n", limit: 8, skipEmpty: true, start: 4, err: ErrHeaderTooLarge},
		{name: "skip up to limit", in: "\r\n\r\n\r\n", limit: 6, skipEmpty: true, start: 6, err: ErrHeaderTooLarge},
		{name: "skip, then half CRLF", in: "\r\n\r", limit: 100, skipEmpty: true, start: 2, err: ErrNeedMore},
		{name: "no skip for responses", in: "\r\nA\r\n\r\n", limit: 100, end: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end, err := scanHead([]byte(tt.in), tt.limit, tt.skipEmpty)
			if err != tt.err || end != tt.end || (start != tt.start) {
				t.Errorf("scanHead(%q, %d) = %d, %d, %v; want %d, %d, %v",
					tt.in, tt.limit, start, end, err, tt.start, tt.end, tt.err)
			}
		})
	}
}

func TestCheckField(t *testing.T) {
	tests := []struct {
		line, name, value string
		ok                bool
	}{
		{"Host: example.com", "Host", "example.com", true},
		{"Host:example.com", "Host", "example.com", true},
		{"Host: \t example.com \t", "Host", "example.com", true},
		{"X-Empty:", "X-Empty", "", true},
		{"X-Empty:   ", "X-Empty", "", true},
		{"X-Tab: a\tb", "X-Tab", "a\tb", true},
		{"X-Obs-Text: caf\xc3\xa9", "X-Obs-Text", "caf\xc3\xa9", true},
		{"x!#$%&'*+-.^_`|~09: v", "x!#$%&'*+-.^_`|~09", "v", true},

		{"Host : example.com", "", "", false},  // whitespace before colon
		{"Host\t: example.com", "", "", false}, // whitespace before colon
		{" folded", "", "", false},             // obs-fold
		{"\tfolded", "", "", false},            // obs-fold
		{": no name", "", "", false},
		{"no colon", "", "", false},
		{"NoColon", "", "", false},
		{"X(Y): v", "", "", false},
		{"X/Y: v", "", "", false},
		{"X\xc3\xa9: v", "", "", false},
		{"X: a\x00b", "", "", false},
		{"X: a\rb", "", "", false},
		{"X: a\nb", "", "", false},
		{"X: a\x7fb", "", "", false},
		{"X: a\x1bb", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		name, value, err := checkField([]byte(tt.line))
		if ok := err == nil; ok != tt.ok || string(name) != tt.name || string(value) != tt.value {
			t.Errorf("checkField(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.line, name, value, err, tt.name, tt.value, tt.ok)
		}
		if err != nil && err != ErrMalformedHeader {
			t.Errorf("checkField(%q) error = %v, want ErrMalformedHeader", tt.line, err)
		}
	}
}

func TestTokens(t *testing.T) {
	head := "Connection: keep-alive, Upgrade\r\n" +
		"X-List: a, b\r\n" +
		"x-list:\r\n" +
		"X-Other: z\r\n" +
		"X-LIST: ,, c ,\td\t,\r\n" +
		"X-List-Not: e\r\n"
	tests := []struct {
		name string
		want []string
	}{
		{"X-List", []string{"a", "b", "c", "d"}},
		{"Connection", []string{"keep-alive", "Upgrade"}},
		{"X-Missing", nil},
	}
	for _, tt := range tests {
		var got []string
		toks := fieldTokens([]byte(head), tt.name)
		for tok, ok := toks.Next(); ok; tok, ok = toks.Next() {
			got = append(got, string(tok))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("tokens of %s = %q, want %q", tt.name, got, tt.want)
		}
		if tok, ok := toks.Next(); ok {
			t.Errorf("Next after the end = %q, true", tok)
		}
	}
	var zero Tokens
	if tok, ok := zero.Next(); ok {
		t.Errorf("zero Tokens yields %q", tok)
	}
}

func TestHasToken(t *testing.T) {
	tests := []struct {
		list, tok string
		want      bool
	}{
		{"Upgrade", "upgrade", true},
		{"UPGRADE", "upgrade", true},
		{"keep-alive, Upgrade", "upgrade", true},
		{"keep-alive,upgrade", "upgrade", true},
		{" , upgrade , ", "upgrade", true},
		{"keep-alive", "upgrade", false},
		{"upgrades", "upgrade", false},
		{"up grade", "upgrade", false},
		{"", "upgrade", false},
		{"websocket", "websocket", true},
		{"WebSocket", "websocket", true},
		{"h2c, websocket/13", "websocket", false},
		// U+212A KELVIN SIGN folds to 'k' in Unicode, not in ASCII.
		{"\u212aeep-alive", "keep-alive", false},
	}
	for _, tt := range tests {
		if got := hasToken([]byte(tt.list), tt.tok); got != tt.want {
			t.Errorf("hasToken(%q, %q) = %v, want %v", tt.list, tt.tok, got, tt.want)
		}
	}
}

func TestEqualFold(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"Sec-WebSocket-Key", "sec-websocket-key", true},
		{"SEC-WEBSOCKET-KEY", "Sec-WebSocket-Key", true},
		{"Sec-WebSocket-Key", "Sec-WebSocket-Keys", false},
		{"", "", true},
		{"@", "`", false}, // 0x40 and 0x60 differ only in the case bit
		{"[", "{", false},
	}
	for _, tt := range tests {
		if got := equalFold([]byte(tt.a), tt.b); got != tt.want {
			t.Errorf("equalFold(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := equalFold(tt.a, tt.b); got != tt.want {
			t.Errorf("equalFold(string %q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCharClasses(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) bool
		in   string
		want bool
	}{
		{"token", isToken[string], "chat.v2", true},
		{"token", isToken[string], "", false},
		{"token", isToken[string], "a b", false},
		{"token", isToken[string], "a,b", false},
		{"token", isToken[string], "a;b", false},
		{"token", isToken[string], "\"a\"", false},
		{"host", isHost[string], "example.com", true},
		{"host", isHost[string], "127.0.0.1:9001", true},
		{"host", isHost[string], "[::1]:80", true},
		{"host", isHost[string], "xn--caf-dma.example", true},
		{"host", isHost[string], "", false},
		{"host", isHost[string], "a b", false},
		{"host", isHost[string], "a/b", false},
		{"host", isHost[string], "a\x00", false},
		{"host", isHost[string], "caf\xc3\xa9", false},
		{"field content", isFieldContent, "", true},
		{"field content", isFieldContent, "a b\tc", true},
		{"field content", isFieldContent, " a", false},
		{"field content", isFieldContent, "a\t", false},
		{"field content", isFieldContent, "a\r\nX-Injected: 1", false},
		{"field content", isFieldContent, "a\x00", false},
	}
	for _, tt := range tests {
		if got := tt.f(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"HTT", true},
		{"HTTP/1.1", true},
		{"HTTP/9.", true},
		{"HTTP/a", false},
		{"HTTP/1.1 ", false},
		{"http", false},
		{"HTTP/1,", false},
	}
	for _, tt := range tests {
		if got := matchPattern([]byte(tt.in), "HTTP/0.0"); got != tt.want {
			t.Errorf("matchPattern(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNextLineRobust(t *testing.T) {
	// Lookups on a hand-built message must not panic on odd blocks.
	for _, head := range []string{"", "\n", "\r\n", "X", ":", "X:\n:\r\n", "\n\n\n"} {
		if v := headerValue([]byte(head), "X"); v != nil && !strings.Contains(head, "X:") {
			t.Errorf("headerValue(%q) = %q", head, v)
		}
		toks := fieldTokens([]byte(head), "X")
		for _, ok := toks.Next(); ok; _, ok = toks.Next() {
		}
	}
}

func TestStartLine(t *testing.T) {
	tests := []struct {
		in       string
		limit    int
		line     string
		complete bool
	}{
		{"GET / HTTP/1.1\r\nHost", 100, "GET / HTTP/1.1", true},
		{"GET / HTTP/1.1\r", 100, "GET / HTTP/1.1", false},
		{"GET / HTTP/1.1\nHost", 100, "GET / HTTP/1.1", true},
		{"GET / HTTP/1.1\r\n", 5, "GET /", false},
		{"", 100, "", false},
	}
	for _, tt := range tests {
		line, complete := startLine([]byte(tt.in), 0, tt.limit)
		if string(line) != tt.line || complete != tt.complete {
			t.Errorf("startLine(%q, %d) = %q, %v; want %q, %v", tt.in, tt.limit, line, complete, tt.line, tt.complete)
		}
	}
}

// isSentinel reports whether err is one of the values the parsers return,
// so that an unexpected wrapped or ad-hoc error shows up in tests.
func isSentinel(err error) bool {
	var he *HandshakeError
	return errors.As(err, &he) || err == ErrNeedMore || err == ErrBadStatusLine
}
