package stream

import (
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
)

// Dial opens a WebSocket connection to rawURL, ws://host[:port]/path?query
// or wss:// for TLS (Options.TLSConfig), and runs the opening handshake
// as a client. ctx and Options.HandshakeTimeout bound the TCP connect,
// the TLS handshake and the WebSocket handshake; once Dial returns, ctx
// no longer matters. A server that refuses gives an error wrapping
// codec.ErrBadStatus (with the status) or another of the codec's client
// handshake errors.
func Dial(ctx context.Context, rawURL string, opts *Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	port := "80"
	switch u.Scheme {
	case "ws":
	case "wss":
		port = "443"
	default:
		return nil, ErrBadURL
	}
	if u.Host == "" {
		return nil, ErrBadURL
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout(opts))
	defer cancel()
	dial := (&net.Dialer{}).DialContext
	if opts != nil && opts.NetDial != nil {
		dial = opts.NetDial
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "wss" {
		var cfg *tls.Config
		if opts != nil && opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		} else {
			cfg = new(tls.Config)
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		// The opening handshake is HTTP/1.1: a server must not pick h2.
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c, err := clientHandshake(ctx, nc, u, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Client runs the opening handshake as a client over nc, a connection the
// caller already has (any net.Conn: TCP, TLS, a Unix socket, a pipe).
// rawURL gives the Host and the request target; its scheme is not used.
// ctx and Options.HandshakeTimeout bound the handshake. On failure nc is
// left open, for the caller to close.
func Client(ctx context.Context, nc net.Conn, rawURL string, opts *Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if u.Host == "" {
		return nil, ErrBadURL
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout(opts))
	defer cancel()
	return clientHandshake(ctx, nc, u, opts)
}

func clientHandshake(ctx context.Context, nc net.Conn, u *url.URL, opts *Options) (*Conn, error) {
	key := codec.NewKey()
	req := codec.ClientRequest{Host: u.Host, Target: u.RequestURI(), Key: key[:]}
	if opts != nil {
		req.Protocols = opts.Protocols
		req.Origin, req.Header = headerFields(opts.Header)
	}
	b, err := req.Append(nil)
	if err != nil {
		return nil, err
	}
	stop := bindContext(ctx, nc)
	c := newConn(nc, codec.RoleClient, opts)
	protocol, err := c.clientExchange(&req, b)
	if err := stop(err); err != nil {
		return nil, err
	}
	c.protocol = protocol
	return c, nil
}

// clientExchange sends the request b and reads the response into the read
// buffer, leaving what follows it (the server's first frames) there.
func (c *Conn) clientExchange(req *codec.ClientRequest, b []byte) (string, error) {
	if _, err := c.nc.Write(b); err != nil {
		return "", err
	}
	var resp codec.Response
	for {
		n, err := codec.ParseResponse(c.rbuf[:c.rend], codec.DefaultMaxHeaderBytes, &resp)
		if err == nil {
			c.rpos = n
			return req.CheckResponse(&resp)
		}
		if !errors.Is(err, codec.ErrNeedMore) {
			return "", err
		}
		if err := c.readHandshake(); err != nil {
			return "", fmt.Errorf("stream: reading the handshake response: %w", err)
		}
	}
}

// readHandshake reads more of a handshake into the read buffer, growing
// it up to the header limit; the parser refuses anything longer.
func (c *Conn) readHandshake() error {
	if c.rend == len(c.rbuf) {
		c.rbuf = append(c.rbuf, make([]byte, len(c.rbuf))...)
	}
	n, err := c.nc.Read(c.rbuf[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("stream: read returned nothing")
	}
	return err
}

// headerFields splits h into the Origin value and the other fields, in a
// stable order. The codec refuses any the handshake sets itself.
func headerFields(h http.Header) (origin string, fields []codec.HeaderField) {
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range h[name] {
			if http.CanonicalHeaderKey(name) == "Origin" && origin == "" {
				origin = v
				continue
			}
			fields = append(fields, codec.HeaderField{Name: name, Value: v})
		}
	}
	return origin, fields
}

// bindContext puts ctx's deadline on nc and makes ctx's cancellation
// abort nc's reads and writes, until the returned stop is called with the
// outcome of the exchange; stop clears the deadline and reports ctx's
// error in place of the I/O error ctx caused.
func bindContext(ctx context.Context, nc net.Conn) (stop func(error) error) {
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	unbind := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return func(err error) error {
		if !unbind() || err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		nc.SetDeadline(time.Time{})
		return nil
	}
}
