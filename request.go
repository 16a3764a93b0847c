package shoal

import (
	"bytes"
	"net/http"
	"net/netip"
	"strings"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/shard"
)

// Request is the opening handshake of a connection that a shard read
// itself (Listen, ListenAndServe, Serve), as Config.Accept sees it: the
// method, path, query, headers and cookies the client sent, with which
// to authenticate and route it, and the means to act on it before it
// opens: refuse it, add header fields to the answer, store its value,
// subscribe it to topics.
//
// Its byte slices alias the shard's read buffer: they are valid only
// during Accept, and copied by string(b) to keep. Reading the request
// allocates nothing. A Request must not be used after Accept returns.
type Request struct {
	req    *codec.Request
	conn   *Conn
	sc     *shard.Conn
	fields []byte // header lines for the answer, reused from request to request
}

// Conn is the connection being accepted: its ID and remote address are
// there; sending waits until it opens.
func (r *Request) Conn() *Conn { return r.conn }

// RemoteAddr is the client's address.
func (r *Request) RemoteAddr() netip.AddrPort { return r.sc.RemoteAddr() }

// Method is the request method (always "GET").
func (r *Request) Method() []byte { return r.req.Method }

// Path is the request path, as sent (not unescaped); for an
// absolute-form target only its path ("/" if it had none).
func (r *Request) Path() []byte {
	if len(r.req.Path) == 0 {
		return slash
	}
	return r.req.Path
}

var slash = []byte("/")

// Query is the raw query string, without the '?' (nil if none).
func (r *Request) Query() []byte { return r.req.Query }

// QueryValue returns the first value of key in the query, as sent
// (percent-encoding not undone: use url.QueryUnescape on a copy); empty
// but not nil for a key with no value ("?flag"), nil if key is absent.
func (r *Request) QueryValue(key string) []byte {
	for q := r.req.Query; len(q) > 0; {
		var pair []byte
		pair, q, _ = bytes.Cut(q, []byte{'&'})
		k, v, found := bytes.Cut(pair, []byte{'='})
		if string(k) == key {
			if !found {
				return pair[len(pair):]
			}
			return v
		}
	}
	return nil
}

// Host is the Host the client asked for.
func (r *Request) Host() []byte { return r.req.Host }

// Header returns the first value of the header field name (ASCII case
// insensitive), or nil if there is none.
func (r *Request) Header(name string) []byte { return r.req.Header(name) }

// Cookie returns the value of the cookie name from the Cookie header
// field, or nil if the client sent none by that name.
func (r *Request) Cookie(name string) []byte {
	// RFC 6265 §5.4: a user agent sends one Cookie field, "cookie-pair"s
	// separated by "; ".
	for c := r.req.Header("Cookie"); len(c) > 0; {
		var pair []byte
		pair, c, _ = bytes.Cut(c, []byte{';'})
		k, v, ok := bytes.Cut(bytes.TrimSpace(pair), []byte{'='})
		if ok && string(k) == name {
			return bytes.Trim(v, `"`)
		}
	}
	return nil
}

// SetValue stores v on the connection before OnOpen runs.
func (r *Request) SetValue(v any) { r.conn.SetValue(v) }

// Subscribe subscribes the connection to topic as part of its
// acceptance: it is a subscriber before it opens, so a publish made after
// its handshake is answered reaches it, even one made by another
// connection's OnOpen that runs before this one's.
func (r *Request) Subscribe(topic string) { r.sc.Shard().SubscribeNow(r.sc, topic) }

// SetHeader adds a header field to the answer, whether the connection is
// accepted or refused (Set-Cookie, WWW-Authenticate). A name that is not
// a token, a value with a line break, or a field that is the handshake's
// own (Upgrade, Connection, Sec-WebSocket-*, Content-*) is ignored.
func (r *Request) SetHeader(name, value string) {
	if !extraHeaderAllowed(name) || strings.ContainsAny(value, "\r\n\x00") {
		return
	}
	r.fields = append(r.fields, name...)
	r.fields = append(r.fields, ": "...)
	r.fields = append(r.fields, value...)
	r.fields = append(r.fields, "\r\n"...)
}

// Reject makes an error for Config.Accept to return: the handshake is
// refused with status (a 4xx or 5xx, such as 401, 403, 404 or 429) and
// body as its text/plain body. An Accept error made otherwise refuses
// with 403 and a generic body, so that no internal detail reaches the
// client.
func Reject(status int, body string) error {
	return &codec.HandshakeError{Status: status, Reason: body}
}

var errRefused = &codec.HandshakeError{Status: http.StatusForbidden, Reason: "forbidden"}
