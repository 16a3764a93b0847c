package shoal

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/tlsio"
	"github.com/shoalws/shoal/reactor"
	"github.com/shoalws/shoal/shard"
)

// Upgrade answers a WebSocket handshake inside any net/http handler
// (behind http.ServeMux and middleware alike), takes the connection away
// from net/http and gives it to a shard. value is stored on the
// connection before OnOpen runs (the place for a user identity read from
// the request); OnOpen may run before Upgrade returns. Header fields set
// on w before the call (a cookie, say) go out with the 101 response.
//
// The connection is taken over before anything is promised: the shard
// owns its socket before it writes 101, so a client that reads 101 is
// served. Refusals are answered with an HTTP status and returned as
// errors: a bad handshake gets what RFC 6455 asks for (400, 403, 426), a
// request with a body 400, a server out of file descriptors 503 with
// Retry-After, a connection shoal cannot take over 501
// (ErrCannotTakeOver). Over https that is one whose TLS net/http made
// itself (http.ListenAndServeTLS): serve https with NewTLSListener, and
// the connection, TLS included, moves to a shard.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, value any) (*Conn, error) {
	return s.UpgradeWith(w, r, &UpgradeOptions{Value: value})
}

// UpgradeOptions tune UpgradeWith. The zero value is Upgrade's.
type UpgradeOptions struct {
	// Value is stored on the connection before OnOpen runs.
	Value any
	// Topics are subscribed as part of the upgrade, before the
	// connection opens: a publish made after UpgradeWith returns reaches
	// it, even one made by another connection's OnOpen that runs before
	// this one's.
	Topics []string
}

// UpgradeWith is Upgrade with options.
func (s *Server) UpgradeWith(w http.ResponseWriter, r *http.Request, opts *UpgradeOptions) (*Conn, error) {
	if opts == nil {
		opts = &UpgradeOptions{}
	}
	key, protocol, err := s.checkUpgrade(r)
	if err != nil {
		reject(w, err)
		return nil, err
	}
	var deflate *codec.DeflateParams
	if p, ok := s.negotiateDeflate(r.Header["Sec-Websocket-Extensions"]); ok {
		deflate = &p
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: cannot take over this connection", http.StatusInternalServerError)
		return nil, err
	}
	// Bytes the client sent right after its request (its first frames)
	// may already sit in net/http's buffer: they go with the connection.
	var ahead []byte
	if n := brw.Reader.Buffered(); n > 0 {
		ahead, _ = brw.Reader.Peek(n)
	}
	c, err := s.takeOver(nc, &shard.Adoption{
		Start: conn.StateOpen, Ahead: ahead,
		// The 101 is the first thing the shard writes.
		Reply:  appendSwitching(make([]byte, 0, 256), key, protocol, deflate, w.Header()),
		Topics: opts.Topics,
		Setup: func(sc *shard.Conn) {
			if deflate != nil {
				sc.SetDeflate(s.cfg.Compression.params(*deflate, codec.RoleServer))
			}
			h := handle(sc)
			h.setProtocol(protocol)
			if opts.Value != nil {
				h.SetValue(opts.Value)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return handle(c), nil
}

// takeOver moves a connection hijacked from net/http to a shard, which
// writes a.Reply (the 101) before anything else; a TLS one from
// NewTLSListener goes with its tls.Conn. When that cannot be done the
// client is answered with an HTTP status instead (refuse) and nc closed.
func (s *Server) takeOver(nc net.Conn, a *shard.Adoption) (*shard.Conn, error) {
	tc, isTLS := nc.(*tls.Conn)
	var tr *tlsio.Transport
	raw := nc
	if isTLS {
		var ok bool
		if tr, ok = adoptable(tc); !ok {
			refuse(nc, ErrCannotTakeOver)
			return nil, ErrCannotTakeOver
		}
		raw = tr.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		refuse(nc, ErrCannotTakeOver)
		return nil, ErrCannotTakeOver
	}
	fd, err := reactor.Detach(sc)
	if err != nil {
		if reactor.IsTooManyFiles(err) {
			refuse(nc, codec.ErrOverloaded)
			return nil, fmt.Errorf("shoal: taking over the connection: %w", err)
		}
		refuse(nc, &codec.HandshakeError{Status: http.StatusInternalServerError, Reason: "cannot take over the connection"})
		return nil, err
	}
	a.FD, a.Remote = fd, remoteOf(raw)
	if isTLS {
		tr.Detach()
		a.TLS, a.Transport, a.Begun = tc, tr, time.Now()
	}
	return s.adopt(a)
}

// ErrCannotTakeOver is returned by Upgrade for a connection that shoal
// cannot move to a shard: not a plain TCP socket, nor a TLS one from
// NewTLSListener (a TLS connection of net/http's own, for instance). The
// client is answered 501 before any 101.
var ErrCannotTakeOver = &codec.HandshakeError{Status: http.StatusNotImplemented,
	Reason: "this server cannot take over a WebSocket from this connection (for https, serve it with shoal.NewTLSListener)"}

// refuse answers a handshake on a connection taken from net/http and
// closes it.
func refuse(nc net.Conn, err error) {
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(codec.AppendRejectError(nil, err))
}

// appendSwitching appends the 101 response: RFC 6455's fields, then the
// fields the handler set on its ResponseWriter, except those that are the
// handshake's own or would frame a body; a field with a name that is not
// a token or a value with a line break is left out, so no value can
// inject a line.
func appendSwitching(dst []byte, key, protocol string, deflate *codec.DeflateParams, extra http.Header) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = codec.AppendAcceptKey(dst, []byte(key))
	if protocol != "" {
		dst = append(dst, "\r\nSec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
	}
	if deflate != nil {
		dst = append(dst, "\r\nSec-WebSocket-Extensions: "...)
		dst = codec.AppendDeflate(dst, *deflate, false)
	}
	for name, values := range extra {
		if !extraHeaderAllowed(name) {
			continue
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				continue
			}
			dst = append(dst, "\r\n"...)
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
		}
	}
	return append(dst, "\r\n\r\n"...)
}

func extraHeaderAllowed(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Upgrade", "Connection", "Content-Length", "Transfer-Encoding", "Content-Type",
		"Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Version":
		return false
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110
// §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func remoteOf(nc net.Conn) netip.AddrPort {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

// checkUpgrade applies RFC 6455 §4.2.1 to a request net/http parsed.
func (s *Server) checkUpgrade(r *http.Request) (key, protocol string, err error) {
	if r.Method != http.MethodGet {
		return "", "", codec.ErrMethod
	}
	// net/http has parsed the framing: see codec.ErrBody.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return "", "", codec.ErrBody
	}
	if !r.ProtoAtLeast(1, 1) {
		return "", "", codec.ErrHTTPVersion
	}
	if !hasToken(r.Header["Upgrade"], "websocket") {
		return "", "", codec.ErrNotUpgrade
	}
	if !hasToken(r.Header["Connection"], "upgrade") {
		return "", "", codec.ErrConnectionHeader
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", "", codec.ErrVersion
	}
	keys := r.Header["Sec-Websocket-Key"]
	if len(keys) != 1 {
		return "", "", codec.ErrKey
	}
	key = strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", "", codec.ErrKey
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.cfg.CheckOrigin(origin, r.Host) {
		return "", "", codec.ErrForbiddenOrigin
	}
	return key, selectProtocol(r.Header["Sec-Websocket-Protocol"], s.cfg.Subprotocols), nil
}

// negotiateDeflate answers the first permessage-deflate offer of the
// Sec-WebSocket-Extensions lines that the server can accept, if
// compression is enabled.
func (s *Server) negotiateDeflate(lines []string) (codec.DeflateParams, bool) {
	d := s.connCfg.Deflate
	if d == nil {
		return codec.DeflateParams{}, false
	}
	for _, v := range lines {
		if p, ok := codec.NegotiateDeflate(codec.ExtensionList([]byte(v)), d.Negotiate); ok {
			return p, true
		}
	}
	return codec.DeflateParams{}, false
}

// hasToken reports whether a comma-separated header list holds token,
// case-insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func selectProtocol(offered []string, supported []string) string {
	for _, v := range offered {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			for _, sp := range supported {
				if p == sp {
					return sp
				}
			}
		}
	}
	return ""
}

// reject answers a refused handshake with the same response the shards
// write (codec.AppendRejectError) and closes the connection: the client
// sent a handshake, not a request to keep talking HTTP. Where the
// connection cannot be taken over (HTTP/2), net/http answers instead.
func reject(w http.ResponseWriter, err error) {
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
