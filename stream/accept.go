package stream

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoalws/shoal/codec"
)

// ErrHijack: Accept was called on a connection net/http cannot hand over,
// such as an HTTP/2 stream.
var ErrHijack = errors.New("stream: the HTTP connection cannot be taken over (HTTP/2?)")

// Accept answers a WebSocket opening handshake inside a net/http handler
// and takes the connection over from net/http: plain TCP or TLS alike,
// for an http.Server that serves TLS hands over the *tls.Conn. Header
// fields set on w before the call go out with the 101 response (a cookie,
// say), except those the handshake sets itself.
//
// A request that is no valid handshake, or whose Origin CheckOrigin
// refuses, is answered with the status RFC 6455 asks for (400, 403, 426),
// and the codec's *codec.HandshakeError is returned. The handler must not
// write to w after Accept, whatever it returns.
func Accept(w http.ResponseWriter, r *http.Request, opts *Options) (*Conn, error) {
	key, err := checkHTTPRequest(r, opts)
	if err != nil {
		refuse(w, err)
		return nil, err
	}
	var protocols []string
	if opts != nil {
		protocols = opts.Protocols
	}
	protocol := selectProtocol(r.Header["Sec-Websocket-Protocol"], protocols)
	resp := make([]byte, 0, 256)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = codec.AppendAcceptKey(resp, []byte(key))
	resp = append(resp, "\r\n"...)
	if protocol != "" {
		resp = append(resp, "Sec-WebSocket-Protocol: "+protocol+"\r\n"...)
	}
	resp = appendHeader(resp, w.Header())
	resp = append(resp, "\r\n"...)

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: cannot take over this connection", http.StatusInternalServerError)
		return nil, ErrHijack
	}
	// net/http may have left its own deadlines on the connection.
	nc.SetDeadline(time.Now().Add(handshakeTimeout(opts)))
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c := newConn(nc, codec.RoleServer, opts)
	c.protocol = protocol
	// The client's first frames may already sit in net/http's buffer.
	if n := brw.Reader.Buffered(); n > 0 {
		ahead, _ := brw.Reader.Peek(n)
		if n > len(c.rbuf) {
			c.rbuf = make([]byte, n)
		}
		c.rend = copy(c.rbuf, ahead)
	}
	return c, nil
}

// checkHTTPRequest applies RFC 6455 §4.2.1 to a request net/http parsed
// and returns its key.
func checkHTTPRequest(r *http.Request, opts *Options) (key string, err error) {
	if r.Method != http.MethodGet {
		return "", codec.ErrMethod
	}
	// net/http has parsed the framing: see codec.ErrBody.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return "", codec.ErrBody
	}
	if !r.ProtoAtLeast(1, 1) {
		return "", codec.ErrHTTPVersion
	}
	if !hasToken(r.Header["Upgrade"], "websocket") {
		return "", codec.ErrNotUpgrade
	}
	if !hasToken(r.Header["Connection"], "upgrade") {
		return "", codec.ErrConnectionHeader
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", codec.ErrVersion
	}
	keys := r.Header["Sec-Websocket-Key"]
	if len(keys) != 1 {
		return "", codec.ErrKey
	}
	key = strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", codec.ErrKey
	}
	if len(r.Header["Origin"]) > 1 {
		return "", codec.ErrOriginHeader
	}
	if !originAllowed(opts, r.Header.Get("Origin"), r.Host) {
		return "", codec.ErrForbiddenOrigin
	}
	return key, nil
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// selectProtocol picks the first offered subprotocol, in the client's
// order of preference (RFC 6455 §4.1), that this end speaks.
func selectProtocol(offered, supported []string) string {
	for _, v := range offered {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			for _, s := range supported {
				if p == s {
					return s
				}
			}
		}
	}
	return ""
}

func originAllowed(opts *Options, origin, host string) bool {
	if opts != nil && opts.CheckOrigin != nil {
		return opts.CheckOrigin(origin, host)
	}
	return sameOrigin(origin, host)
}

// sameOrigin allows a request with no Origin (not from a browser) or one
// whose origin's host is the request's Host.
func sameOrigin(origin, host string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// appendHeader appends the fields of h, but for those the handshake
// sets or that would frame a body, as field lines. Values have CR and LF replaced (as net/http's
// Header.Write does) and names that are not tokens are left out, so that
// no value can add a line of its own.
func appendHeader(dst []byte, h http.Header) []byte {
	var buf bytes.Buffer
	if err := h.WriteSubset(&buf, map[string]bool{
		"Upgrade": true, "Connection": true, "Sec-Websocket-Accept": true,
		"Sec-Websocket-Protocol": true, "Sec-Websocket-Extensions": true, "Sec-Websocket-Version": true,
		"Content-Length": true, "Transfer-Encoding": true, "Content-Type": true,
	}); err != nil {
		return dst
	}
	for line := range strings.SplitSeq(buf.String(), "\r\n") {
		name, _, ok := strings.Cut(line, ":")
		if ok && isToken(name) {
			dst = append(dst, line...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// refuse answers a refused handshake with the response the engine's
// shards write and closes the connection: the client sent a handshake,
// not a request to keep talking HTTP. Where the connection cannot be
// taken over, net/http answers instead.
func refuse(w http.ResponseWriter, err error) {
	nc, _, herr := http.NewResponseController(w).Hijack()
	if herr != nil {
		status, reason := http.StatusBadRequest, err.Error()
		var he *codec.HandshakeError
		if errors.As(err, &he) {
			status, reason = he.Status, he.Reason
		}
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, reason, status)
		return
	}
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(codec.AppendRejectError(nil, err))
}

// Server runs the opening handshake as a server over nc, a connection
// the caller already has (accepted from a net.Listener, a *tls.Conn, a
// pipe): it reads the request, checks it (Options.CheckOrigin,
// Options.CheckRequest), and answers. ctx and Options.HandshakeTimeout
// bound it. A refused request is answered with its HTTP status, and the
// error returned; nc is left open, for the caller to close.
func Server(ctx context.Context, nc net.Conn, opts *Options) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout(opts))
	defer cancel()
	stop := bindContext(ctx, nc)
	c := newConn(nc, codec.RoleServer, opts)
	protocol, err := c.serverExchange(opts)
	if err := stop(err); err != nil {
		return nil, err
	}
	c.protocol = protocol
	return c, nil
}

// serverExchange reads the request into the read buffer, answers it, and
// leaves what follows it (the client's first frames) in the buffer.
func (c *Conn) serverExchange(opts *Options) (string, error) {
	var req codec.Request
	for {
		n, err := codec.ParseRequest(c.rbuf[:c.rend], codec.DefaultMaxHeaderBytes, &req)
		if errors.Is(err, codec.ErrNeedMore) {
			if err := c.readHandshake(); err != nil {
				return "", err
			}
			continue
		}
		if err == nil {
			err = checkParsedRequest(&req, opts)
		}
		if err != nil {
			c.nc.Write(codec.AppendRejectError(nil, err))
			return "", err
		}
		var protocols []string
		if opts != nil {
			protocols = opts.Protocols
		}
		protocol := req.SelectProtocol(protocols)
		if _, err := c.nc.Write(codec.AppendAccept(nil, &req, protocol)); err != nil {
			return "", err
		}
		c.rpos = n
		return protocol, nil
	}
}

func checkParsedRequest(req *codec.Request, opts *Options) error {
	if !originAllowed(opts, string(req.Origin), string(req.Host)) {
		return codec.ErrForbiddenOrigin
	}
	if opts != nil && opts.CheckRequest != nil {
		return opts.CheckRequest(req)
	}
	return nil
}
