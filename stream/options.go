package stream

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/shoalws/shoal/codec"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxMessageSize   = 1 << 20 // as shoal.Config's
	DefaultBufferSize       = 4 << 10
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
)

// Options tune a connection. A nil *Options, and any zero field, means
// the default. Options are read during the handshake and not kept: the
// Conn copies what it needs.
type Options struct {
	// Protocols are the subprotocols this end speaks. A client (Dial,
	// Client) offers them in order of preference; a server (Accept,
	// Server) chooses the first one the client offers, in the client's
	// order. Conn.Subprotocol says which was agreed on.
	Protocols []string

	// MaxMessageSize bounds every message read, whichever API reads it: a
	// longer one fails the connection with 1009 as soon as its frame
	// header announces it, before its payload is read. ReadMessage holds
	// at most this much; NextReader and Read hold none of it, so a
	// streaming reader may raise it freely. Conn.Write also splits its
	// input into messages of at most this size, assuming the peer's limit
	// is the same. Default 1 MiB.
	MaxMessageSize int64
	// ReadBufferSize and WriteBufferSize size the two buffers a Conn
	// holds for its whole life. Payloads larger than a buffer bypass it.
	// Default 4 KiB each.
	ReadBufferSize, WriteBufferSize int
	// HandshakeTimeout bounds the opening handshake (for Dial, the TCP
	// and TLS handshakes too), on top of any context deadline. Default 10s.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the close handshake: how long Close waits for
	// the peer's close frame, and how long a failed connection waits for
	// the peer to read its close frame and hang up. Default 5s.
	CloseTimeout time.Duration

	// OnPing and OnPong, if set, are told of each ping and pong received,
	// on the goroutine reading, inside its read call. payload is valid
	// only until the hook returns. A ping is answered with a pong after
	// OnPing returns whether or not the hook is set.
	OnPing, OnPong func(payload []byte)

	// Client role: Dial and Client.

	// Header holds extra request header fields for the opening handshake.
	// An Origin field is sent as the Origin header; Host, Upgrade,
	// Connection and Sec-WebSocket-* are the handshake's own and refused.
	Header http.Header
	// TLSConfig configures wss:// dials. Nil means a default
	// configuration; ServerName defaults to the URL's host. Dial offers
	// only http/1.1 by ALPN, whatever NextProtos says: the handshake is
	// HTTP/1.1.
	TLSConfig *tls.Config
	// NetDial, if set, opens the TCP connection for Dial (through a
	// proxy, say). Default: a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Server role: Accept and Server.

	// CheckOrigin decides on a browser's Origin header; host is the
	// request's Host. Default: no Origin, or one whose host equals Host
	// (same-origin), which blocks cross-site WebSocket hijacking.
	CheckOrigin func(origin, host string) bool
	// CheckRequest, if set, sees the request Server has parsed (path,
	// query, header fields; valid only during the call) and may refuse it
	// by returning an error: a *codec.HandshakeError answers with its
	// status, any other error with 400. Accept has no need of it: its
	// caller holds the *http.Request.
	CheckRequest func(r *codec.Request) error
}

// settings are the resolved options a Conn keeps.
type settings struct {
	maxMessage     int64
	readBuf        int
	writeBuf       int
	closeTimeout   time.Duration
	onPing, onPong func([]byte)
}

func resolve(o *Options) settings {
	s := settings{
		maxMessage:   DefaultMaxMessageSize,
		readBuf:      DefaultBufferSize,
		writeBuf:     DefaultBufferSize,
		closeTimeout: DefaultCloseTimeout,
	}
	if o == nil {
		return s
	}
	if o.MaxMessageSize > 0 {
		s.maxMessage = o.MaxMessageSize
	}
	if o.ReadBufferSize > 0 {
		s.readBuf = max(o.ReadBufferSize, minBufferSize)
	}
	if o.WriteBufferSize > 0 {
		s.writeBuf = max(o.WriteBufferSize, minBufferSize)
	}
	if o.CloseTimeout > 0 {
		s.closeTimeout = o.CloseTimeout
	}
	s.onPing, s.onPong = o.OnPing, o.OnPong
	return s
}

// minBufferSize keeps a whole control frame (header and payload) within
// the read buffer and leaves the write buffer room for a header and some
// payload.
const minBufferSize = 256

func handshakeTimeout(o *Options) time.Duration {
	if o != nil && o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}
