package codec

import "bytes"

// This file holds the HTTP/1.1 message syntax (RFC 9110, RFC 9112) that
// both sides of the opening handshake need: finding the end of a header
// block, walking its lines, checking field syntax and matching
// comma-separated token lists. Nothing here knows about WebSocket.

// Byte classes, one table load per byte in the hot loops.
const (
	classTchar = 1 << iota // RFC 9110 §5.6.2 tchar: the bytes of a token
	classHost              // RFC 3986 uri-host and port: unreserved, pct-encoded, sub-delims, ":", "[", "]"
	classVchar             // RFC 5234 VCHAR: visible ASCII, the bytes a request-target may use
)

var byteClass = func() (t [256]uint8) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] |= classVchar
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= classTchar | classHost
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= classTchar | classHost
		t[c-'a'+'A'] |= classTchar | classHost
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] |= classTchar
	}
	for _, c := range "-._~%!$&'()*+,;=:[]" {
		t[c] |= classHost
	}
	return t
}()

func isTchar(c byte) bool { return byteClass[c]&classTchar != 0 }
func isVchar(c byte) bool { return byteClass[c]&classVchar != 0 }

// isFieldByte reports whether c may appear in a field value or a reason
// phrase. RFC 9110 §5.5: "Field values containing CR, LF, or NUL
// characters are invalid and dangerous ... Field values containing other
// CTL characters are also invalid". We reject them all rather than
// replace them: a sender that puts control bytes in a handshake is broken
// or probing for a request-smuggling gap between us and a proxy.
func isFieldByte(c byte) bool { return (c >= 0x20 && c != 0x7f) || c == '\t' }

// isToken reports whether s is an RFC 9110 §5.6.2 token (1*tchar).
func isToken[S []byte | string](s S) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isHost reports whether h can be a Host field value, uri-host [":" port]
// (RFC 9110 §7.2). It only checks the alphabet: enough to keep spaces,
// userinfo ("@"), paths and control bytes out of what a server logs,
// routes on or compares with an Origin.
func isHost[S []byte | string](h S) bool {
	if len(h) == 0 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if byteClass[h[i]]&classHost == 0 {
			return false
		}
	}
	return true
}

// isFieldContent reports whether v can be sent as a field value:
// field-value = *field-content, which has no leading or trailing
// whitespace (RFC 9110 §5.5). It is for values we write; received values
// are checked line by line by checkField.
func isFieldContent(v string) bool {
	if len(v) > 0 && (isOWS(v[0]) || isOWS(v[len(v)-1])) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isFieldByte(v[i]) {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// lower folds ASCII upper case only: header names and the tokens we look
// for are ASCII, and Unicode folding (strings.EqualFold) would let "K"
// (U+212A KELVIN SIGN) match "k".
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b and s are equal under ASCII case folding.
func equalFold[S []byte | string](b S, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// trimOWS strips the optional whitespace that surrounds field values and
// list elements (RFC 9110 §5.6.3).
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// indexByte is bytes.IndexByte for either kind of byte string, for the
// checks that run on both received bytes and a client's string config.
func indexByte[S []byte | string](s S, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// headerLimit returns the effective size limit for a maxHeader argument.
func headerLimit(maxHeader int) int {
	if maxHeader <= 0 {
		return DefaultMaxHeaderBytes
	}
	return maxHeader
}

// scanHead looks in b[:limit] for the empty line that ends a header block.
// It returns the offset of the start line and the offset just past the
// block's final CRLF CRLF, or ErrNeedMore, ErrHeaderTooLarge, or
// ErrMalformedHeader for a bare LF. When skipEmpty is set, empty lines
// before the start line are skipped; they still count toward limit.
func scanHead(b []byte, limit int, skipEmpty bool) (start, end int, err error) {
	w := b
	if len(w) > limit {
		w = w[:limit]
	}
	if skipEmpty {
		// RFC 9112 §2.2: "a server that is expecting to receive and parse a
		// request-line SHOULD ignore at least one empty line (CRLF) received
		// prior to the request-line."
		for len(w)-start >= 2 && w[start] == '\r' && w[start+1] == '\n' {
			start += 2
		}
	}
	line := start // offset of the line being scanned
	for {
		i := bytes.IndexByte(w[line:], '\n')
		if i < 0 {
			break
		}
		lf := line + i
		// RFC 9112 §2.2 lets a recipient accept a bare LF as a line
		// terminator; we do not. Where two parsers disagree about line
		// ends, one of them can be fed a header the other never saw.
		if lf == 0 || w[lf-1] != '\r' {
			return start, 0, ErrMalformedHeader
		}
		if lf-1 == line {
			return start, lf + 1, nil
		}
		line = lf + 1
	}
	if len(b) >= limit {
		return start, 0, ErrHeaderTooLarge
	}
	return start, 0, ErrNeedMore
}

// startLine returns the start line of a header block that scanHead could
// not finish: the bytes up to the first LF, and whether that LF is there.
// For an unfinished line a trailing CR is dropped, since it may be the
// first half of the CRLF still to come.
func startLine(b []byte, start, limit int) (line []byte, complete bool) {
	w := b[start:min(len(b), limit)]
	if i := bytes.IndexByte(w, '\n'); i >= 0 {
		return trimCR(w[:i]), true
	}
	return trimCR(w), false
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// nextLine splits the first line off a header block and strips its CRLF.
func nextLine(head []byte) (line, rest []byte) {
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return head, nil
	}
	return trimCR(head[:i]), head[i+1:]
}

// splitHead splits a complete header block, as scanHead delimits it, into
// its start line and its field lines (each still ending in CRLF; the
// final empty line is dropped).
func splitHead(block []byte) (line, head []byte) {
	line, head = nextLine(block)
	if len(head) >= 2 {
		head = head[:len(head)-2]
	}
	return line, head
}

// checkField validates one field line (RFC 9110 §5.1, RFC 9112 §5) and
// splits it into name and OWS-trimmed value.
func checkField(line []byte) (name, value []byte, err error) {
	colon := 0
	for colon < len(line) && isTchar(line[colon]) {
		colon++
	}
	// The name must be a non-empty token followed at once by the colon.
	// That also refuses two things the RFC calls out:
	//
	// RFC 9112 §5.1: "No whitespace is allowed between the field name and
	// colon. ... A server MUST reject, with a response status code of 400
	// (Bad Request), any received request message that contains
	// whitespace between a header field name and colon."
	//
	// RFC 9112 §5.2: a line that starts with whitespace continues the one
	// before (obs-fold), and "A server that receives an obs-fold in a
	// request message ... MUST either reject the message by sending a 400
	// (Bad Request) ... or replace each received obs-fold with one or more
	// SP octets". We reject, on both sides: unfolding would need a copy.
	if colon == 0 || colon == len(line) || line[colon] != ':' {
		return nil, nil, ErrMalformedHeader
	}
	value = line[colon+1:]
	for _, c := range value {
		if !isFieldByte(c) {
			return nil, nil, ErrMalformedHeader
		}
	}
	return line[:colon], trimOWS(value), nil
}

// splitField splits a field line that checkField accepted; ok is false
// for anything else, so lookups on a hand-built message are safe.
func splitField(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	return line[:i], trimOWS(line[i+1:]), true
}

// nextField returns the value of the next field line in *head named name
// (ASCII case-insensitive) and advances *head past that line.
func nextField(head *[]byte, name string) (value []byte, ok bool) {
	for len(*head) > 0 {
		var line []byte
		line, *head = nextLine(*head)
		if n, v, ok := splitField(line); ok && equalFold(n, name) {
			return v, true
		}
	}
	return nil, false
}

// headerValue returns the first value of the field name in head, or nil.
func headerValue(head []byte, name string) []byte {
	v, _ := nextField(&head, name)
	return v
}

// Tokens iterates the elements of a comma-separated field value (RFC 9110
// §5.6.1) across every line of that field, without allocating. Elements
// are OWS-trimmed and empty ones skipped, as the RFC asks of recipients.
// Elements are split at every comma, so a quoted-string holding a comma
// would be cut; none of the WebSocket fields allows one (RFC 6455 §9.1:
// a quoted parameter value "MUST conform to the 'token' ABNF").
//
// The zero Tokens yields nothing.
type Tokens struct {
	head []byte // field lines not yet searched for name
	name string // the field whose lines are iterated
	list []byte // what is left of the current line's value
}

// Next returns the next element, or ok == false when there are no more.
// The element aliases the parsed buffer.
func (t *Tokens) Next() (tok []byte, ok bool) {
	for {
		for len(t.list) > 0 {
			var elem []byte
			if i := bytes.IndexByte(t.list, ','); i >= 0 {
				elem, t.list = t.list[:i], t.list[i+1:]
			} else {
				elem, t.list = t.list, nil
			}
			if elem = trimOWS(elem); len(elem) > 0 {
				return elem, true
			}
		}
		if t.name == "" {
			return nil, false
		}
		if t.list, ok = nextField(&t.head, t.name); !ok {
			return nil, false
		}
	}
}

// SplitExtension splits an extension offer element, as Extensions yields
// it, into the extension name and the raw parameter string after the
// first ';', both OWS-trimmed. params is nil when there is no ';'.
func SplitExtension(elem []byte) (name, params []byte) {
	i := bytes.IndexByte(elem, ';')
	if i < 0 {
		return trimOWS(elem), nil
	}
	return trimOWS(elem[:i]), trimOWS(elem[i+1:])
}

// fieldTokens iterates the list elements of every line of field name.
func fieldTokens(head []byte, name string) Tokens {
	return Tokens{head: head, name: name}
}

// hasToken reports whether the list value has an element that equals tok
// under ASCII case folding.
func hasToken(value []byte, tok string) bool {
	t := Tokens{list: value}
	for {
		elem, ok := t.Next()
		if !ok {
			return false
		}
		if equalFold(elem, tok) {
			return true
		}
	}
}

// matchPattern reports whether b is a prefix of pattern, where a '0' in
// pattern stands for any digit and every other byte for itself. It
// checks fixed-shape syntax such as "HTTP/0.0" on partial input.
func matchPattern(b []byte, pattern string) bool {
	if len(b) > len(pattern) {
		return false
	}
	for i, c := range b {
		if p := pattern[i]; p == '0' && !isDigit(c) || p != '0' && c != p {
			return false
		}
	}
	return true
}
