package shoal

import (
	"github.com/shoalws/shoal/codec"
)

// MessageType is a data message's type.
type MessageType uint8

// Message types, with the values of their RFC 6455 opcodes.
const (
	Text   MessageType = MessageType(codec.OpText)
	Binary MessageType = MessageType(codec.OpBinary)
)

func (t MessageType) String() string { return codec.Opcode(t).String() }

// Message is one complete message from a peer.
//
// Data is valid only until OnMessage returns: its memory goes back to a
// pool afterwards. Copy it to keep it.
type Message struct {
	Type MessageType
	Data []byte
}

// Handler receives a connection's life. For one connection the calls
// never overlap: OnOpen comes first, then every message in the order the
// peer sent them, then OnClose exactly once. Calls for different
// connections run concurrently on the worker pool, or one after another
// on the shard thread when Config.Inline is set.
//
// OnOpen runs after the handshake is answered, asynchronously: another
// connection's OnOpen may run before it, even one that connected later,
// and messages published meanwhile do not wait for it. A connection that
// must not miss what is published from the moment it is accepted is
// subscribed as part of its acceptance (Request.Subscribe in
// Config.Accept, UpgradeOptions.Topics, DialOptions.Topics), not in
// OnOpen.
type Handler interface {
	OnOpen(c *Conn)
	OnMessage(c *Conn, m Message)
	// OnClose reports why the connection ended: a *CloseError with the
	// code the peer sent (or this side sent first), a protocol error with
	// the code shoal closed with (CloseCodeOf reads it), or a *CloseError
	// with code 1006 when the connection dropped without a close frame.
	OnClose(c *Conn, err error)
}

// HandlerFuncs is a Handler made of functions; nil ones do nothing.
type HandlerFuncs struct {
	Open    func(c *Conn)
	Message func(c *Conn, m Message)
	Close   func(c *Conn, err error)
}

// OnOpen calls h.Open.
func (h HandlerFuncs) OnOpen(c *Conn) {
	if h.Open != nil {
		h.Open(c)
	}
}

// OnMessage calls h.Message.
func (h HandlerFuncs) OnMessage(c *Conn, m Message) {
	if h.Message != nil {
		h.Message(c, m)
	}
}

// OnClose calls h.Close.
func (h HandlerFuncs) OnClose(c *Conn, err error) {
	if h.Close != nil {
		h.Close(c, err)
	}
}
