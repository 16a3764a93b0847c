package shoal

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/tlsio"
	"github.com/shoalws/shoal/shard"
)

// DialOptions tune Dial. The zero value is fine.
type DialOptions struct {
	// Origin, if set, is sent as the Origin header.
	Origin string
	// Protocols are offered subprotocols, in order of preference.
	Protocols []string
	// Header holds extra request header fields (Authorization, Cookie,
	// User-Agent); not Host, Upgrade, Connection, Origin or
	// Sec-WebSocket-*, which are Dial's: such a field fails the Dial.
	Header http.Header
	// Value is stored on the connection before OnOpen runs.
	Value any
	// Topics are subscribed before the connection opens (see
	// UpgradeOptions.Topics).
	Topics []string
	// TLS configures wss:// connections; nil means the defaults (the
	// system's roots). ServerName defaults to the URL's host, and
	// NextProtos is set to HTTP/1.1.
	TLS *tls.Config
}

// ErrUnsupportedURL is returned by Dial for a URL it cannot dial.
var ErrUnsupportedURL = errors.New("shoal: Dial needs a ws:// or wss:// URL")

// Dial opens a client connection to a WebSocket server at rawURL
// ("ws://host:port/path?query", or "wss://" over TLS with opts.TLS) and
// hands it to one of s's shards: from then on it is served like every
// other connection, with no goroutine of its own (over TLS too: the
// shard decrypts and encrypts), and its messages reach Config.Handler
// (OnOpen first). The TCP connect and the TLS and opening handshakes run
// on the caller's goroutine, bounded by ctx and Config.HandshakeTimeout;
// a refused handshake returns an error wrapping codec.ErrBadStatus and
// the like.
func (s *Server) Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, ErrUnsupportedURL
	}
	secure := u.Scheme == "wss"
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// Over TLS, the handshakes run on a transport that is detached from
	// the Go socket once they are done (see handOverTLS).
	hc := nc
	var tc *tls.Conn
	var tr *tlsio.Transport
	if secure {
		tr = tlsio.NewTransport(nc)
		tc = tls.Client(tr, clientTLS(opts.TLS, u.Hostname()))
		if err := tc.Handshake(); err != nil { // bounded by nc's deadline
			nc.Close()
			return nil, err
		}
		hc = tc
	}
	var offer *codec.DeflateParams
	if s.cfg.Compression.Enabled {
		offer = s.cfg.Compression.offer()
	}
	hs, err := clientHandshake(hc, u, opts, offer)
	if err != nil {
		nc.Close()
		return nil, err
	}
	protocol, ahead := hs.protocol, hs.ahead
	nc.SetDeadline(time.Time{})
	a := &shard.Adoption{Start: conn.StateOpen, Ahead: ahead, Topics: opts.Topics, Setup: func(sc *shard.Conn) {
		sc.SetClient()
		if hs.deflate != nil {
			sc.SetDeflate(s.cfg.Compression.params(*hs.deflate, codec.RoleClient))
		}
		h := handle(sc)
		h.setProtocol(protocol)
		if opts.Value != nil {
			h.SetValue(opts.Value)
		}
	}}
	var sc *shard.Conn
	if secure {
		sc, err = s.handOverTLS(tc, tr, a)
	} else {
		sc, err = s.handOver(nc, a)
	}
	if err != nil {
		return nil, err
	}
	return handle(sc), nil
}

// handshakeResult is what the server's answer settled.
type handshakeResult struct {
	protocol string               // the subprotocol chosen, or ""
	deflate  *codec.DeflateParams // permessage-deflate as accepted, or nil
	ahead    []byte               // bytes read past the response: the server's first frames
}

// clientHandshake sends the opening handshake on nc, offering deflate if
// it is not nil, and reads the answer.
func clientHandshake(nc net.Conn, u *url.URL, opts *DialOptions, deflate *codec.DeflateParams) (handshakeResult, error) {
	var none handshakeResult
	key := codec.NewKey()
	req := codec.ClientRequest{
		Host: u.Host, Target: u.RequestURI(), Key: key[:],
		Origin: opts.Origin, Protocols: opts.Protocols, Header: headerFields(opts.Header),
		Deflate: deflate,
	}
	b, err := req.Append(make([]byte, 0, 256))
	if err != nil {
		return none, err
	}
	if _, err := nc.Write(b); err != nil {
		return none, err
	}
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		var resp codec.Response
		m, perr := codec.ParseResponse(buf, codec.DefaultMaxHeaderBytes, &resp)
		switch {
		case perr == nil:
			protocol, err := req.CheckResponse(&resp)
			if err != nil {
				return none, err
			}
			res := handshakeResult{protocol: protocol, ahead: bytes.Clone(buf[m:])}
			if p, ok := resp.Deflate(); ok {
				res.deflate = &p
			}
			return res, nil
		case !errors.Is(perr, codec.ErrNeedMore):
			return none, perr
		case err != nil:
			return none, fmt.Errorf("shoal: reading the handshake response: %w", err)
		}
	}
}

// headerFields lists h's fields, names in canonical form, in a stable
// order (sorted by name): a handshake is the same from one Dial to the
// next.
func headerFields(h http.Header) []codec.HeaderField {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	var fields []codec.HeaderField
	for _, name := range names {
		for _, v := range h[name] {
			fields = append(fields, codec.HeaderField{Name: http.CanonicalHeaderKey(name), Value: v})
		}
	}
	return fields
}
