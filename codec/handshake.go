package codec

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strconv"
)

// DefaultMaxHeaderBytes is the default limit on an opening handshake's
// header block: start line, field lines and the final CRLF CRLF, plus any
// empty lines skipped before a request line.
const DefaultMaxHeaderBytes = 8 << 10

// HandshakeError is a failed opening handshake: the HTTP status a server
// answers with and a short reason, fit to be sent as the response body.
// The codec returns the package's sentinel values, so callers compare
// with errors.Is and nothing is allocated on the error path.
//
// ErrHeaderTooLarge and ErrMalformedHeader are also what ParseResponse
// returns for a bad response; a client has no one to answer and ignores
// Status.
type HandshakeError struct {
	Status int
	Reason string
}

// Error returns the reason with a "websocket: handshake: " prefix; the
// response body (AppendRejectError) carries the bare Reason.
func (e *HandshakeError) Error() string { return "websocket: handshake: " + e.Reason }

// Reasons a server rejects an opening handshake, one per rule. The
// functions that enforce them quote the RFC text.
var (
	// ErrHeaderTooLarge: no end of the header block within the limit.
	ErrHeaderTooLarge = &HandshakeError{431, "header block too large"}
	// ErrBadRequestLine: not "GET" SP origin-form or absolute-form target
	// SP "HTTP/" DIGIT "." DIGIT.
	ErrBadRequestLine = &HandshakeError{400, "malformed request line"}
	// ErrMethod: a method other than GET (case-sensitive).
	ErrMethod = &HandshakeError{400, "method must be GET"}
	// ErrHTTPVersion: HTTP/1.0 or older.
	ErrHTTPVersion = &HandshakeError{400, "HTTP/1.1 or later required"}
	// ErrHost: Host missing, repeated, or not a host[:port].
	ErrHost = &HandshakeError{400, "exactly one valid Host header required"}
	// ErrNotUpgrade: no "websocket" in Upgrade, as from a plain HTTP GET.
	ErrNotUpgrade = &HandshakeError{426, "Upgrade header must include websocket"}
	// ErrConnectionHeader: no "upgrade" in Connection.
	ErrConnectionHeader = &HandshakeError{400, "Connection header must include upgrade"}
	// ErrVersion: Sec-WebSocket-Version missing, repeated or not 13.
	ErrVersion = &HandshakeError{426, "Sec-WebSocket-Version must be 13"}
	// ErrKey: Sec-WebSocket-Key missing, repeated, or not the base64 of
	// 16 bytes.
	ErrKey = &HandshakeError{400, "Sec-WebSocket-Key must be one base64-encoded 16-byte value"}
	// ErrOriginHeader: more than one Origin field.
	ErrOriginHeader = &HandshakeError{400, "more than one Origin header"}
	// ErrMalformedHeader: a field line that is not token ":" value (this
	// includes whitespace before the colon and obs-fold), a control byte
	// in a value, or a line that ends in a bare LF.
	ErrMalformedHeader = &HandshakeError{400, "malformed header field"}
	// ErrBody: the request announces a body (Content-Length other than
	// 0, or any Transfer-Encoding). Its bytes would be read as frames.
	ErrBody = &HandshakeError{400, "a handshake request has no body"}
	// ErrForbiddenOrigin is for a server whose origin check fails; the
	// codec does not check origins itself.
	ErrForbiddenOrigin = &HandshakeError{403, "origin not allowed"}
	// ErrOverloaded is for a server that cannot take a connection now
	// (out of file descriptors); the answer carries Retry-After.
	ErrOverloaded = &HandshakeError{503, "server busy, try again"}
)

// Request is a parsed client opening handshake. Every []byte aliases the
// buffer passed to ParseRequest and is valid only until that buffer is
// reused or modified.
type Request struct {
	Method []byte // always "GET" once parsed
	// Target is the raw request-target. Path and Query split it at the
	// first '?' (Query is nil when there is none) and are not unescaped.
	// For an absolute-form target ("http://host/p?q", also https, ws and
	// wss) they hold only the path and query; Path is empty when such a
	// target has no path, which means "/".
	Target, Path, Query []byte
	// Host is the Host field, or the authority of an absolute-form target,
	// which RFC 9112 §3.2.2 says takes precedence ("the origin server
	// MUST ignore the received Host header field (if any) and instead use
	// the host information of the request-target").
	Host   []byte
	Origin []byte // nil when the client sent none
	Key    []byte // Sec-WebSocket-Key, as sent

	ProtoMajor, ProtoMinor int

	head []byte // the field lines, for Header, Protocols and Extensions
}

// Header returns the first value of the field name (ASCII
// case-insensitive), OWS-trimmed; nil if the request has no such field,
// and empty but not nil if the field is there with an empty value.
func (r *Request) Header(name string) []byte { return headerValue(r.head, name) }

// Protocols iterates the subprotocols the client offers: every element of
// every Sec-WebSocket-Protocol line, in the client's order.
func (r *Request) Protocols() Tokens { return fieldTokens(r.head, "Sec-WebSocket-Protocol") }

// Extensions iterates the extension offers: every element of every
// Sec-WebSocket-Extensions line, raw, such as
// "permessage-deflate; client_max_window_bits". See SplitExtension.
func (r *Request) Extensions() Tokens { return fieldTokens(r.head, "Sec-WebSocket-Extensions") }

// OffersProtocol reports whether the client offers subprotocol p. The
// match is exact, case included: RFC 6455 §4.2.2 has the server select
// "one of the values from the |Sec-WebSocket-Protocol| field", and a
// browser fails the connection unless the answer is byte for byte one of
// the strings its script offered.
func (r *Request) OffersProtocol(p string) bool {
	t := r.Protocols()
	for {
		tok, ok := t.Next()
		if !ok {
			return false
		}
		if string(tok) == p {
			return true
		}
	}
}

// SelectProtocol returns the first subprotocol, in the client's order of
// preference, that is also in supported, or "" if there is none. The
// result is an element of supported, so nothing is allocated.
//
// RFC 6455 §4.2.2 leaves the choice to the server; following the client's
// order honours what it sent: subprotocols "ordered by preference" (§4.1).
func (r *Request) SelectProtocol(supported []string) string {
	t := r.Protocols()
	for {
		tok, ok := t.Next()
		if !ok {
			return ""
		}
		for _, s := range supported {
			if string(tok) == s {
				return s
			}
		}
	}
}

// ParseRequest parses a client's opening handshake at the start of b.
//
// If b holds the whole header block (up to and including its CRLF CRLF)
// within maxHeader bytes, ParseRequest fills req, validates it, and
// returns the block's length n; b[n:] is the start of the client's first
// frames and belongs to the caller. maxHeader <= 0 means
// DefaultMaxHeaderBytes.
//
// If the block is unfinished and len(b) < maxHeader, it returns
// ErrNeedMore: read more and call again with the longer buffer. If there
// is no end within maxHeader bytes, it returns ErrHeaderTooLarge. It does
// not wait for the end to reject what can no longer become a valid GET
// request line (another method, a TLS ClientHello, binary noise) or a
// bare LF.
//
// Any other error is one of the *HandshakeError values above, with the
// status to answer with (see AppendRejectError). On any error req is
// zeroed. Nothing is allocated.
func ParseRequest(b []byte, maxHeader int, req *Request) (n int, err error) {
	n, err = parseRequest(b, headerLimit(maxHeader), req)
	if err != nil {
		*req = Request{}
		return 0, err
	}
	return n, nil
}

func parseRequest(b []byte, limit int, req *Request) (int, error) {
	*req = Request{}
	start, end, err := scanHead(b, limit, true)
	if err != nil {
		// Fail fast: a bad request line beats waiting for more input, and
		// names the first problem in b rather than a later one.
		line, complete := startLine(b, start, limit)
		if lineErr := parseRequestLine(line, complete, req); lineErr != nil {
			return 0, lineErr
		}
		return 0, err
	}
	line, head := splitHead(b[start:end])
	if err := parseRequestLine(line, true, req); err != nil {
		return 0, err
	}
	req.head = head
	if err := readRequestFields(req); err != nil {
		return 0, err
	}
	return end, nil
}

// parseRequestLine parses line as a request-line (RFC 9112 §3):
//
//	request-line = method SP request-target SP HTTP-version
//
// and fills in req. When complete is false, line is only the start of a
// request line, and parseRequestLine fails only if nothing that follows
// could make it valid.
func parseRequestLine(line []byte, complete bool, req *Request) error {
	method, rest, found := cutByte(line, ' ')
	if err := checkMethod(method, found || complete); err != nil {
		return err
	}
	if !found {
		return unfinished(complete, ErrBadRequestLine)
	}
	target, version, found := cutByte(rest, ' ')
	if err := checkTarget(target, found || complete); err != nil {
		return err
	}
	if !found {
		return unfinished(complete, ErrBadRequestLine)
	}
	if err := checkRequestVersion(version, complete); err != nil || !complete {
		return err
	}
	authority, path, query, err := splitTarget(target)
	if err != nil {
		return err
	}
	req.Method, req.Target, req.Path, req.Query = method, target, path, query
	req.Host = authority
	req.ProtoMajor, req.ProtoMinor = int(version[5]-'0'), int(version[7]-'0')
	return nil
}

// unfinished is the verdict on a line that ran out early: fine if more
// input may come, err if the line is all there is.
func unfinished(complete bool, err error) error {
	if complete {
		return err
	}
	return nil
}

func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

// checkMethod checks method, or the start of it when whole is false.
//
// RFC 6455 §4.1: "The method of the request MUST be GET". RFC 9110 §9.1:
// "The method token is case-sensitive".
func checkMethod(m []byte, whole bool) error {
	if whole && len(m) == 0 {
		return ErrBadRequestLine
	}
	for _, c := range m {
		if !isTchar(c) {
			return ErrBadRequestLine // not even a token: not HTTP
		}
	}
	if len(m) > 3 || string(m) != "GET"[:len(m)] || (whole && len(m) < 3) {
		return ErrMethod
	}
	return nil
}

// checkTarget checks the request-target's alphabet, or that of its start
// when whole is false. A GET target is in origin-form ("/...") or
// absolute-form ("scheme://..."), RFC 9112 §3.2, so it starts with '/'
// or a letter. We allow any VCHAR after that rather than the exact RFC
// 3986 set: clients do send raw '|', '{' or '"' in queries, and none of
// them can end the line or the field.
func checkTarget[S []byte | string](t S, whole bool) error {
	if len(t) == 0 {
		return unfinished(whole, ErrBadRequestLine)
	}
	if t[0] != '/' && !isAlpha(t[0]) {
		return ErrBadRequestLine
	}
	for i := 0; i < len(t); i++ {
		if !isVchar(t[i]) {
			return ErrBadRequestLine
		}
	}
	return nil
}

// checkRequestVersion checks HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC
// 9112 §2.3), or its start when complete is false.
//
// RFC 6455 §4.1: "the HTTP version MUST be at least 1.1."
func checkRequestVersion(v []byte, complete bool) error {
	if !matchPattern(v, "HTTP/0.0") || (complete && len(v) != len("HTTP/0.0")) {
		return ErrBadRequestLine
	}
	if complete && (v[5] == '0' || (v[5] == '1' && v[7] == '0')) {
		return ErrHTTPVersion
	}
	return nil
}

// splitTarget splits a request-target that checkTarget accepted into
// path and query and, for the absolute form, the authority. query is nil
// when there is no '?'.
//
// RFC 6455 §4.2.1 asks for "a "Request-URI" [RFC2616] that should be
// interpreted as a /resource name/ ... (or an absolute HTTP/HTTPS URI
// containing the /resource name/)". Proxies and some clients send ws:
// and wss: URIs there too.
func splitTarget[S []byte | string](t S) (authority, path, query S, err error) {
	if len(t) == 0 {
		return authority, path, query, ErrBadRequestLine
	}
	if t[0] != '/' {
		i := indexByte(t, ':')
		if i < 0 || len(t)-i < 3 || t[i+1] != '/' || t[i+2] != '/' || !isURIScheme(t[:i]) {
			return authority, path, query, ErrBadRequestLine
		}
		t = t[i+3:]
		i = 0
		for i < len(t) && t[i] != '/' && t[i] != '?' {
			i++
		}
		// RFC 9110 §4.2.1: a recipient of an http URI with an empty host
		// "MUST reject it as invalid"; §4.2.4: "A recipient SHOULD parse for
		// userinfo and treat its presence as an error". isHost refuses both
		// (it has no '@').
		if authority = t[:i]; !isHost(authority) {
			return authority, path, query, ErrBadRequestLine
		}
		t = t[i:]
	}
	if i := indexByte(t, '?'); i >= 0 {
		return authority, t[:i], t[i+1:], nil
	}
	return authority, t, query, nil
}

func isURIScheme[S []byte | string](s S) bool {
	return equalFold(s, "http") || equalFold(s, "https") || equalFold(s, "ws") || equalFold(s, "wss")
}

// requestFields is what one pass over the field lines gathers for the
// handshake rules.
type requestFields struct {
	host, version        []byte
	hosts, keys, origins int
	versions             int
	upgrade, connection  bool
	body                 bool
}

// readRequestFields checks the syntax of every field line of req.head,
// gathers the fields the handshake rules need, and applies the rules.
func readRequestFields(req *Request) error {
	var f requestFields
	for rest := req.head; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		name, value, err := checkField(line)
		if err != nil {
			return err
		}
		switch {
		case equalFold(name, "Host"):
			f.hosts++
			f.host = value
		case equalFold(name, "Upgrade"):
			f.upgrade = f.upgrade || hasToken(value, "websocket")
		case equalFold(name, "Connection"):
			f.connection = f.connection || hasToken(value, "upgrade")
		case equalFold(name, "Sec-WebSocket-Version"):
			f.versions++
			f.version = value
		case equalFold(name, "Sec-WebSocket-Key"):
			f.keys++
			req.Key = value
		case equalFold(name, "Origin"):
			f.origins++
			req.Origin = value
		case equalFold(name, "Content-Length"):
			f.body = f.body || string(value) != "0"
		case equalFold(name, "Transfer-Encoding"):
			f.body = true
		}
	}
	if req.Host == nil {
		req.Host = f.host
	}
	return checkRequestFields(req, &f)
}

// checkRequestFields applies the RFC 6455 §4.2.1 rules in the order that
// gives a client the most useful answer: a plain HTTP GET learns that it
// needs an upgrade (426), and an old WebSocket client which version we
// speak (426 with Sec-WebSocket-Version), before anything is said about
// its key. (Direct calls, not a table of funcs: an indirect call would
// move f to the heap.)
func checkRequestFields(req *Request, f *requestFields) error {
	if err := checkHost(f); err != nil {
		return err
	}
	if err := checkUpgrade(f); err != nil {
		return err
	}
	if err := checkConnection(f); err != nil {
		return err
	}
	if err := checkVersion(f); err != nil {
		return err
	}
	if err := checkKey(req, f); err != nil {
		return err
	}
	if err := checkOrigin(f); err != nil {
		return err
	}
	return checkBody(f)
}

// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
// code to any HTTP/1.1 request message that lacks a Host header field and
// to any request message that contains more than one Host header field
// line or a Host header field with an invalid field value."
func checkHost(f *requestFields) error {
	if f.hosts != 1 || !isHost(f.host) {
		return ErrHost
	}
	return nil
}

// RFC 6455 §4.2.1: "An |Upgrade| header field containing the value
// "websocket", treated as an ASCII case-insensitive value." Upgrade is a
// list (RFC 9110 §7.8), so "websocket" may be one element of several.
func checkUpgrade(f *requestFields) error {
	if !f.upgrade {
		return ErrNotUpgrade
	}
	return nil
}

// RFC 6455 §4.2.1: "A |Connection| header field that includes the token
// "Upgrade", treated as an ASCII case-insensitive value." Browsers send
// "keep-alive, Upgrade".
func checkConnection(f *requestFields) error {
	if !f.connection {
		return ErrConnectionHeader
	}
	return nil
}

// RFC 6455 §4.2.1: "A |Sec-WebSocket-Version| header field, with a value
// of 13." §11.3.5: it "MUST NOT appear more than once in an HTTP
// request." §4.4: if the version "does not match a version understood by
// the server, the server MUST abort the WebSocket handshake ... and
// instead send an appropriate HTTP error code (such as 426 Upgrade
// Required) and a |Sec-WebSocket-Version| header field indicating the
// version(s) the server is capable of understanding" (AppendReject adds
// it for 426).
func checkVersion(f *requestFields) error {
	if f.versions != 1 || string(f.version) != "13" {
		return ErrVersion
	}
	return nil
}

// RFC 6455 §4.2.1: "A |Sec-WebSocket-Key| header field with a
// base64-encoded (see Section 4 of [RFC4648]) value that, when decoded,
// is 16 bytes in length." §11.3.1: it "MUST NOT appear more than once in
// an HTTP request."
func checkKey(req *Request, f *requestFields) error {
	if f.keys != 1 || !validKey(req.Key) {
		return ErrKey
	}
	return nil
}

// validKey reports whether k is the base64 (standard alphabet, padded)
// of exactly 16 bytes: 24 characters ending in "==".
func validKey(k []byte) bool {
	if len(k) != 24 {
		return false
	}
	var raw [18]byte // base64.StdEncoding.DecodedLen(24)
	n, err := base64.StdEncoding.Decode(raw[:], k)
	return err == nil && n == 16
}

// RFC 6454 §7.3: "The user agent MUST NOT include more than one Origin
// header field in any HTTP request." Two of them can only mean a broken
// or forged request, and a server's origin check could look at the other
// one than a proxy's did.
func checkOrigin(f *requestFields) error {
	if f.origins > 1 {
		return ErrOriginHeader
	}
	return nil
}

// RFC 6455 §4.1 describes the opening handshake as a GET with header
// fields only, and RFC 9110 §9.3.1: "content received in a GET request
// has no generally defined semantics". Whatever follows the header block
// is read as WebSocket frames, so a body would be taken for frames, and
// a proxy that forwards the body differently would let a client smuggle
// frames past it.
func checkBody(f *requestFields) error {
	if f.body {
		return ErrBody
	}
	return nil
}

// acceptGUID is the RFC 6455 §1.3 constant that turns a key into an
// accept value.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AppendAcceptKey appends the Sec-WebSocket-Accept value for key to dst:
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), as RFC
// 6455 §4.2.2 defines it. key is taken as sent, not decoded. Nothing is
// allocated when dst has room for 28 more bytes and key is at most 64
// bytes long (a valid key has 24).
func AppendAcceptKey(dst, key []byte) []byte {
	var sum [sha1.Size]byte
	if len(key) <= 64 {
		var buf [64 + len(acceptGUID)]byte
		n := copy(buf[:], key)
		n += copy(buf[n:], acceptGUID)
		sum = sha1.Sum(buf[:n])
	} else {
		h := sha1.New()
		h.Write(key)
		h.Write([]byte(acceptGUID))
		h.Sum(sum[:0])
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// AppendAccept appends to dst the 101 Switching Protocols response that
// accepts req, naming protocol as the subprotocol unless it is "", and
// no extension.
//
// protocol should come from req.SelectProtocol. A protocol the client did
// not offer is left out, because RFC 6455 §4.2.2 says the value "MUST be
// derived from the client's handshake" and a client fails the connection
// otherwise; leaving it out also means no value can inject a header line.
// Nothing is allocated when dst has room.
func AppendAccept(dst []byte, req *Request, protocol string) []byte {
	return appendAccept(dst, req, protocol, nil)
}

// AppendAcceptDeflate is AppendAccept with a Sec-WebSocket-Extensions
// line that accepts permessage-deflate with the parameters p, which
// should come from NegotiateDeflate on req's offers.
func AppendAcceptDeflate(dst []byte, req *Request, protocol string, p DeflateParams) []byte {
	return appendAccept(dst, req, protocol, &p)
}

func appendAccept(dst []byte, req *Request, protocol string, deflate *DeflateParams) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "...)
	dst = AppendAcceptKey(dst, req.Key)
	dst = append(dst, "\r\n"...)
	if protocol != "" && isToken(protocol) && req.OffersProtocol(protocol) {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
		dst = append(dst, "\r\n"...)
	}
	if deflate != nil {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = AppendDeflate(dst, *deflate, false)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// NegotiateDeflate answers the client's first well-formed
// permessage-deflate offer under cfg (see the function NegotiateDeflate).
func (r *Request) NegotiateDeflate(cfg DeflateConfig) (DeflateParams, bool) {
	return NegotiateDeflate(r.Extensions(), cfg)
}

// AppendReject appends an HTTP error response to dst: the status line,
// Connection: close, a text/plain body of reason plus a newline, and for
// 426 the Upgrade and Sec-WebSocket-Version fields that RFC 6455 §4.4 and
// RFC 9110 §15.5.22 ask for. status should be a 4xx or 5xx code; anything
// else is sent as 500, since a "reject" that read as success or as an
// upgrade would mislead the client.
func AppendReject(dst []byte, status int, reason string) []byte {
	if status < 400 || status > 599 {
		status = 500
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	if status == 426 {
		// RFC 9110 §7.8: "A server that sends a 426 (Upgrade Required)
		// response MUST send an Upgrade header field to indicate the
		// acceptable protocols", and "A sender of Upgrade MUST also send an
		// "Upgrade" connection option in the Connection header field".
		dst = append(dst, "\r\nConnection: Upgrade, close"+
			"\r\nUpgrade: websocket"+
			"\r\nSec-WebSocket-Version: 13"...)
	} else {
		dst = append(dst, "\r\nConnection: close"...)
	}
	if status == 503 {
		// RFC 9110 §10.2.3: how long the client ought to wait.
		dst = append(dst, "\r\nRetry-After: 1"...)
	}
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(reason)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}

// AppendRejectError is AppendReject for the first *HandshakeError in
// err's chain; for an error without one it answers 400 with err's text.
func AppendRejectError(dst []byte, err error) []byte {
	var he *HandshakeError
	switch {
	case errors.As(err, &he):
		return AppendReject(dst, he.Status, he.Reason)
	case err == nil:
		return AppendReject(dst, 400, "bad handshake")
	}
	return AppendReject(dst, 400, err.Error())
}

// statusText is the reason phrase for the statuses a handshake is
// rejected with. Clients ignore it (RFC 9112 §4), so a fallback will do.
func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}
