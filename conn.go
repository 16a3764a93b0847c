package shoal

import (
	"net/netip"
	"sync/atomic"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/shard"
)

// Conn is a WebSocket connection. Its methods are safe from any
// goroutine. The shard that owns the connection does all of its I/O;
// these methods post work to it and never block on the network.
type Conn struct {
	sc    shard.Conn // first: one allocation holds the handle and the state (see handle)
	attrs atomic.Pointer[attrs]
}

// attrs are the connection's optional fields, kept out of line: most
// connections set neither, and inline they would cost every connection
// their bytes. An attrs is never changed once stored.
type attrs struct {
	value    any
	protocol string // negotiated subprotocol, set before OnOpen
}

// updateAttrs stores a copy of the connection's attrs changed by set.
func (c *Conn) updateAttrs(set func(*attrs)) {
	for {
		old := c.attrs.Load()
		var next attrs
		if old != nil {
			next = *old
		}
		set(&next)
		if c.attrs.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (c *Conn) setProtocol(p string) {
	if p != "" {
		c.updateAttrs(func(a *attrs) { a.protocol = p })
	}
}

// ID is unique among the connections of the process.
func (c *Conn) ID() uint64 { return c.sc.ID() }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.sc.RemoteAddr() }

// Subprotocol is the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string {
	if a := c.attrs.Load(); a != nil {
		return a.protocol
	}
	return ""
}

// Compressing reports whether permessage-deflate (RFC 7692) was
// negotiated on the connection (see Config.Compression).
func (c *Conn) Compressing() bool { return c.sc.Compressing() }

// Value returns what SetValue stored.
func (c *Conn) Value() any {
	if a := c.attrs.Load(); a != nil {
		return a.value
	}
	return nil
}

// SetValue stores a value of the application's on the connection.
func (c *Conn) SetValue(v any) { c.updateAttrs(func(a *attrs) { a.value = v }) }

// Send queues a message. data is copied: the caller may reuse it at once.
// It returns ErrClosed once the connection is closing and
// ErrOutboundFull when the peer is not reading fast enough; either way
// the message was not queued. Messages sent from one goroutine to one
// connection arrive in the order sent.
func (c *Conn) Send(t MessageType, data []byte) error {
	if c.sc.Ending() {
		return ErrClosed
	}
	// Compressed here, on the caller's goroutine, when the connection
	// negotiated it; a client's frames are masked in the same pass.
	return c.sc.Shard().Send(&c.sc, c.sc.EncodeMessage(codec.Opcode(t), data))
}

// Close starts the close handshake: messages already sent go out first,
// then a close frame with code and reason (at most 123 bytes of UTF-8).
// OnClose follows when the peer answers or the close timeout passes.
func (c *Conn) Close(code StatusCode, reason string) error {
	return c.sc.Shard().Close(&c.sc, code, reason)
}
