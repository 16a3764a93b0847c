package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Client-side handshake errors. They are plain errors, not
// *HandshakeError: a client that fails the handshake has nobody to answer
// with an HTTP status, it just closes the connection (RFC 6455 §4.1,
// "_Fail the WebSocket Connection_"). ParseResponse shares
// ErrNeedMore, ErrHeaderTooLarge and ErrMalformedHeader with the server
// side; their Status means nothing to a client.
var (
	// ErrClientRequest is wrapped by the errors ClientRequest.Append
	// returns for a field it can not send.
	ErrClientRequest = errors.New("websocket: invalid client handshake request")
	// ErrBadStatusLine: the response does not start with
	// "HTTP/" DIGIT "." DIGIT SP 3DIGIT.
	ErrBadStatusLine = errors.New("websocket: malformed response status line")
	// ErrBadStatus is wrapped by the error CheckResponse returns for a
	// status other than 101; the message gives the status.
	ErrBadStatus = errors.New("websocket: server did not switch protocols")
	// ErrBadUpgrade: Upgrade missing, or naming anything but websocket.
	ErrBadUpgrade = errors.New("websocket: response Upgrade header is not websocket")
	// ErrBadConnection: no "upgrade" in Connection.
	ErrBadConnection = errors.New("websocket: response Connection header lacks upgrade")
	// ErrBadAccept: Sec-WebSocket-Accept missing, repeated, or not the
	// value for the key sent.
	ErrBadAccept = errors.New("websocket: response Sec-WebSocket-Accept does not match the key")
	// ErrBadProtocol: Sec-WebSocket-Protocol repeated, a list, or not one
	// of the subprotocols offered.
	ErrBadProtocol = errors.New("websocket: server chose a subprotocol the client did not offer")
	// ErrBadExtension: the server accepted an extension the client did
	// not offer, more than one, or permessage-deflate with parameters
	// that do not answer the offer (RFC 7692 §7.1).
	ErrBadExtension = errors.New("websocket: server chose an extension the client did not offer")
)

// NewKey returns a fresh Sec-WebSocket-Key: the base64 of 16 bytes from
// crypto/rand. RFC 6455 §4.1: the nonce "MUST be selected randomly for
// each connection".
func NewKey() [24]byte {
	var raw [16]byte
	// Since Go 1.24 crypto/rand.Read never returns an error: it crashes the
	// program instead of handing out a predictable key.
	_, _ = rand.Read(raw[:])
	var key [24]byte
	base64.StdEncoding.Encode(key[:], raw[:])
	return key
}

// ClientRequest describes a client's opening handshake.
type ClientRequest struct {
	Host      string        // Host field value, such as "127.0.0.1:9001"
	Target    string        // request-target, such as "/chat?room=lobby"; "" means "/"
	Key       []byte        // Sec-WebSocket-Key, from NewKey
	Origin    string        // Origin field value; optional
	Protocols []string      // subprotocols offered, in order of preference; optional
	Header    []HeaderField // more field lines; optional
	// Deflate, if set, offers permessage-deflate with these parameters
	// (RFC 7692); CheckResponse then accepts a server's answer to it.
	Deflate *DeflateParams
}

// HeaderField is one field line.
type HeaderField struct{ Name, Value string }

// Append appends the GET request for c to dst: HTTP/1.1, Host, Upgrade:
// websocket, Connection: Upgrade, Sec-WebSocket-Key,
// Sec-WebSocket-Version: 13, then Origin, Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions if set, then c.Header. Nothing is allocated
// when dst has room.
//
// It fails, returning dst unchanged and an error wrapping
// ErrClientRequest, on anything that would not make a valid request or
// could smuggle in extra lines: an invalid Host, Target or Key, a
// subprotocol that is not a token or is offered twice, a field name that
// is not a token, a value with control bytes or surrounding whitespace,
// or an extra field that this request already sets or that would give it
// a body.
func (c *ClientRequest) Append(dst []byte) ([]byte, error) {
	if err := c.validate(); err != nil {
		return dst, err
	}
	target := c.Target
	if target == "" {
		target = "/"
	}
	dst = append(dst, "GET "...)
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, c.Host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, c.Key...)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if c.Origin != "" {
		dst = appendField(dst, "Origin", c.Origin)
	}
	for i, p := range c.Protocols {
		if i == 0 {
			dst = append(dst, "Sec-WebSocket-Protocol: "...)
		} else {
			dst = append(dst, ", "...)
		}
		dst = append(dst, p...)
	}
	if len(c.Protocols) > 0 {
		dst = append(dst, "\r\n"...)
	}
	if c.Deflate != nil {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = AppendDeflate(dst, *c.Deflate, true)
		dst = append(dst, "\r\n"...)
	}
	for _, f := range c.Header {
		dst = appendField(dst, f.Name, f.Value)
	}
	return append(dst, "\r\n"...), nil
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// validate checks that every part of c can be sent as is. Its errors
// allocate; they are configuration mistakes, not traffic.
func (c *ClientRequest) validate() error {
	if !isHost(c.Host) {
		return fmt.Errorf("%w: Host %q", ErrClientRequest, c.Host)
	}
	if c.Target != "" {
		if err := checkTarget(c.Target, true); err != nil {
			return fmt.Errorf("%w: target %q", ErrClientRequest, c.Target)
		}
		if _, _, _, err := splitTarget(c.Target); err != nil {
			return fmt.Errorf("%w: target %q", ErrClientRequest, c.Target)
		}
	}
	if !validKey(c.Key) {
		return fmt.Errorf("%w: Sec-WebSocket-Key %q is not base64 of 16 bytes", ErrClientRequest, c.Key)
	}
	if !isFieldContent(c.Origin) {
		return fmt.Errorf("%w: Origin %q", ErrClientRequest, c.Origin)
	}
	// RFC 6455 §4.1: the elements "MUST be non-empty strings with characters
	// in the range U+0021 to U+007E not including separator characters ...
	// and MUST all be unique strings."
	for i, p := range c.Protocols {
		if !isToken(p) {
			return fmt.Errorf("%w: subprotocol %q is not a token", ErrClientRequest, p)
		}
		for _, q := range c.Protocols[:i] {
			if p == q {
				return fmt.Errorf("%w: subprotocol %q offered twice", ErrClientRequest, p)
			}
		}
	}
	for _, f := range c.Header {
		if !isToken(f.Name) || !isFieldContent(f.Value) {
			return fmt.Errorf("%w: header field %q: %q", ErrClientRequest, f.Name, f.Value)
		}
		if reservedField(f.Name) {
			return fmt.Errorf("%w: header field %q is set by the handshake", ErrClientRequest, f.Name)
		}
	}
	return nil
}

// reservedField reports whether name is a field Append writes itself, or
// one that would give the GET a body and so hide the first frames inside
// it. Sec-WebSocket-Extensions is here because CheckResponse accepts only
// what Deflate offered.
func reservedField(name string) bool {
	for _, r := range [...]string{
		"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
		"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Origin",
		"Content-Length", "Transfer-Encoding",
	} {
		if equalFold(name, r) {
			return true
		}
	}
	return false
}

// Response is a parsed server opening handshake response. Every []byte
// aliases the buffer passed to ParseResponse and is valid only until that
// buffer is reused or modified.
type Response struct {
	Status                 int // the three-digit status code
	ProtoMajor, ProtoMinor int
	Accept                 []byte // first Sec-WebSocket-Accept value; nil if none
	Protocol               []byte // first Sec-WebSocket-Protocol value; nil if none

	head []byte // the field lines, for Header and CheckResponse
}

// Header returns the first value of the field name (ASCII
// case-insensitive), OWS-trimmed; nil if the response has no such field.
func (r *Response) Header(name string) []byte { return headerValue(r.head, name) }

// Deflate returns the permessage-deflate parameters the server accepted,
// or false if it accepted none. It is meaningful once CheckResponse has
// found the response valid for the request that offered them.
func (r *Response) Deflate() (DeflateParams, bool) {
	t := fieldTokens(r.head, "Sec-WebSocket-Extensions")
	for elem, ok := t.Next(); ok; elem, ok = t.Next() {
		if name, params := SplitExtension(elem); equalFold(name, DeflateExtension) {
			return ParseDeflateParams(params, true)
		}
	}
	return DeflateParams{}, false
}

// ParseResponse parses a server's handshake response at the start of b:
// the status line and the header fields. Its input rules are those of
// ParseRequest: it returns the header block's length n when the block is
// complete within maxHeader bytes (b[n:] is the server's first frames),
// ErrNeedMore while it is not, ErrHeaderTooLarge past the limit, and
// ErrBadStatusLine as soon as b can no longer start with a status line
// ("HTTP/" DIGIT "." DIGIT SP 3DIGIT). Field syntax errors are
// ErrMalformedHeader.
//
// It does not judge the status or the fields: CheckResponse does. On any
// error resp is zeroed. Nothing is allocated.
func ParseResponse(b []byte, maxHeader int, resp *Response) (n int, err error) {
	n, err = parseResponse(b, headerLimit(maxHeader), resp)
	if err != nil {
		*resp = Response{}
		return 0, err
	}
	return n, nil
}

func parseResponse(b []byte, limit int, resp *Response) (int, error) {
	*resp = Response{}
	// Only a server is asked to skip empty lines before the start line
	// (RFC 9112 §2.2); a response starts at once.
	_, end, err := scanHead(b, limit, false)
	if err != nil {
		if line, complete := startLine(b, 0, limit); parseStatusLine(line, complete, resp) != nil {
			return 0, ErrBadStatusLine
		}
		return 0, err
	}
	line, head := splitHead(b[:end])
	if err := parseStatusLine(line, true, resp); err != nil {
		return 0, err
	}
	resp.head = head
	for rest := head; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		name, value, err := checkField(line)
		if err != nil {
			return 0, err
		}
		if resp.Accept == nil && equalFold(name, "Sec-WebSocket-Accept") {
			resp.Accept = value
		}
		if resp.Protocol == nil && equalFold(name, "Sec-WebSocket-Protocol") {
			resp.Protocol = value
		}
	}
	return end, nil
}

// parseStatusLine parses a status line (RFC 9112 §4), or the start of one
// when complete is false:
//
//	status-line = HTTP-version SP status-code SP [ reason-phrase ]
//
// The SP before an empty reason phrase may be missing: servers omit it
// and RFC 9112 §4 tells clients to ignore the reason anyway.
func parseStatusLine(line []byte, complete bool, resp *Response) error {
	const shape = "HTTP/0.0 000"
	fixed := line[:min(len(line), len(shape))]
	if !matchPattern(fixed, shape) || (complete && len(fixed) < len(shape)) {
		return ErrBadStatusLine
	}
	if reason := line[len(fixed):]; len(reason) > 0 {
		if reason[0] != ' ' {
			return ErrBadStatusLine
		}
		for _, c := range reason {
			if !isFieldByte(c) {
				return ErrBadStatusLine
			}
		}
	}
	if complete {
		resp.ProtoMajor, resp.ProtoMinor = int(line[5]-'0'), int(line[7]-'0')
		resp.Status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	}
	return nil
}

// CheckResponse applies to resp the rules by which RFC 6455 §4.1 says
// "the client MUST _Fail the WebSocket Connection_", for the request c.
// It returns the subprotocol the server chose, as the element of
// c.Protocols (so nothing is allocated), or "" for none.
//
// The errors are ErrBadStatus (wrapped, with the status; this path
// allocates), ErrBadUpgrade, ErrBadConnection, ErrBadAccept,
// ErrBadProtocol and ErrBadExtension.
func (c *ClientRequest) CheckResponse(resp *Response) (protocol string, err error) {
	// RFC 6455 §4.1: "If the status code received from the server is not
	// 101, the client handles the response per HTTP [RFC2616] procedures."
	// For this codec that means the handshake failed; the caller may
	// still look at resp (a 401 or 3xx, say).
	if resp.Status != 101 {
		return "", fmt.Errorf("%w: status %d", ErrBadStatus, resp.Status)
	}
	var f responseFields
	if err := f.read(resp.head, c.Deflate); err != nil {
		return "", err
	}
	if err := checkResponseUpgrade(&f); err != nil {
		return "", err
	}
	if err := checkResponseConnection(&f); err != nil {
		return "", err
	}
	if err := checkResponseAccept(&f, c.Key); err != nil {
		return "", err
	}
	return checkResponseProtocol(&f, c.Protocols)
}

// responseFields is what one pass over a response's field lines gathers
// for the client rules.
type responseFields struct {
	upgrades, badUpgrade bool // some Upgrade element; some that is not websocket
	connection           bool
	accept, protocol     []byte
	accepts, protocols   int
	deflate              bool // a permessage-deflate element was accepted
}

func (f *responseFields) read(head []byte, deflate *DeflateParams) error {
	for rest := head; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		name, value, ok := splitField(line)
		switch {
		case !ok:
		case equalFold(name, "Upgrade"):
			t := Tokens{list: value}
			for tok, ok := t.Next(); ok; tok, ok = t.Next() {
				f.upgrades = true
				f.badUpgrade = f.badUpgrade || !equalFold(tok, "websocket")
			}
		case equalFold(name, "Connection"):
			f.connection = f.connection || hasToken(value, "upgrade")
		case equalFold(name, "Sec-WebSocket-Accept"):
			f.accepts++
			f.accept = value
		case equalFold(name, "Sec-WebSocket-Protocol"):
			f.protocols++
			f.protocol = value
		case equalFold(name, "Sec-WebSocket-Extensions"):
			if err := f.readExtensions(value, deflate); err != nil {
				return err
			}
		}
	}
	return nil
}

// readExtensions checks one Sec-WebSocket-Extensions line. RFC 6455
// §4.1: "If the response includes a |Sec-WebSocket-Extensions| header
// field and this header field indicates the use of an extension that was
// not present in the client's handshake ..., the client MUST _Fail the
// WebSocket Connection_." The only extension a client here can offer is
// permessage-deflate, once; RFC 7692 §7.1 says what a valid answer to it
// is. An empty value names no extension.
func (f *responseFields) readExtensions(value []byte, offer *DeflateParams) error {
	t := Tokens{list: value}
	for elem, ok := t.Next(); ok; elem, ok = t.Next() {
		name, params := SplitExtension(elem)
		if offer == nil || f.deflate || !equalFold(name, DeflateExtension) {
			return ErrBadExtension
		}
		if !checkDeflateResponse(params, *offer) {
			return ErrBadExtension
		}
		f.deflate = true
	}
	return nil
}

// RFC 6455 §4.1: "If the response lacks an |Upgrade| header field or the
// |Upgrade| header field contains a value that is not an ASCII
// case-insensitive match for the value "websocket", the client MUST _Fail
// the WebSocket Connection_." So every element must be websocket, not
// just one of them as on the server side.
func checkResponseUpgrade(f *responseFields) error {
	if !f.upgrades || f.badUpgrade {
		return ErrBadUpgrade
	}
	return nil
}

// RFC 6455 §4.1: "If the response lacks a |Connection| header field or
// the |Connection| header field doesn't contain a token that is an ASCII
// case-insensitive match for the value "Upgrade", the client MUST _Fail
// the WebSocket Connection_."
func checkResponseConnection(f *responseFields) error {
	if !f.connection {
		return ErrBadConnection
	}
	return nil
}

// RFC 6455 §4.1: "If the response lacks a |Sec-WebSocket-Accept| header
// field or the |Sec-WebSocket-Accept| contains a value other than the
// base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key|
// (as a string, not base64-decoded) with the string
// "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any leading and
// trailing whitespace, the client MUST _Fail the WebSocket Connection_."
// §11.3.3: it "MUST NOT appear more than once in an HTTP response."
func checkResponseAccept(f *responseFields, key []byte) error {
	var buf [28]byte
	if f.accepts != 1 || !bytes.Equal(f.accept, AppendAcceptKey(buf[:0], key)) {
		return ErrBadAccept
	}
	return nil
}

// RFC 6455 §4.1: "If the response includes a |Sec-WebSocket-Protocol|
// header field and this header field indicates the use of a subprotocol
// that was not present in the client's handshake ..., the client MUST
// _Fail the WebSocket Connection_." §11.3.4: it "MUST NOT appear more
// than once in an HTTP response", and §4.2.2 has the server name "a
// single value", so a list fails too.
func checkResponseProtocol(f *responseFields, offered []string) (string, error) {
	if f.protocols == 0 {
		return "", nil
	}
	if f.protocols == 1 {
		for _, p := range offered {
			if string(f.protocol) == p {
				return p, nil
			}
		}
	}
	return "", ErrBadProtocol
}
