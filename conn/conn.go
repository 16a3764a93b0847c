package conn

import (
	"errors"
	"sync/atomic"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// State is where a connection is in its life.
type State uint8

// States in the order a connection passes through them.
const (
	// StateHandshake: waiting for the client's opening handshake.
	StateHandshake State = iota
	// StateOpen: messages flow both ways.
	StateOpen
	// StateClosing: this side sent a close frame and waits for the
	// peer's; messages still arriving are delivered.
	StateClosing
	// StateDraining: the conversation is over (close handshake done, the
	// connection failed, or the handshake was refused). Queued bytes are
	// flushed, then the shard shuts down writing and waits for the peer
	// to close; input is discarded.
	StateDraining
	// StateClosed: the shard has closed the socket.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateHandshake:
		return "handshake"
	case StateOpen:
		return "open"
	case StateClosing:
		return "closing"
	case StateDraining:
		return "draining"
	case StateClosed:
		return "closed"
	}
	return "invalid"
}

// Defaults for Config fields left zero.
const (
	DefaultMaxMessage  = 1 << 20
	DefaultMaxOutbound = 1 << 20
)

// Errors reported to the connection's owner.
var (
	// ErrClosed: the connection is closing or closed; nothing more can be
	// sent on it.
	ErrClosed = errors.New("shoal: connection closed")
	// ErrOutboundFull: the connection's outbound queue is at its limit,
	// usually because the peer does not read.
	ErrOutboundFull = errors.New("shoal: outbound queue full")
	// ErrPeerGone: the TCP connection ended without a close handshake.
	ErrPeerGone = &codec.CloseError{Code: codec.StatusAbnormal, Reason: "connection lost"}
)

// Config is shared by the connections of a shard: read-only, but for the
// per-shard scratch (Nodes, Request, the chunk table) that only the shard
// thread touches. Each shard gives its connections its own copy.
type Config struct {
	Role       codec.Role
	MaxMessage int64 // largest message, reassembled; over it: close 1009
	// MaxOutbound bounds the memory queued for sending (see Cost); once
	// the queue holds it, Admit refuses.
	MaxOutbound    int64
	MaxHeaderBytes int // opening handshake header limit
	// Partial, shared by every connection of a server, bounds the memory
	// held in messages being reassembled; nil: no server-wide bound.
	Partial *Budget
	// Nodes recycles outbound queue nodes; each shard gives its conns its
	// own (nil: allocate).
	Nodes *NodeCache
	// Owner is the shard these connections belong to: they find it
	// here, not through a pointer of their own (see Conn.Config).
	Owner any
	// Request is where opening handshakes are parsed; each shard gives
	// its conns its own, reused because one thread reads one handshake
	// at a time (nil: allocate one per handshake). A handshake burst
	// otherwise leaves a garbage Request per conn in resident memory.
	Request *codec.Request
	// Deflate, if set, negotiates permessage-deflate with clients that
	// offer it; shared by the shards.
	Deflate *Deflate
	// DeflateScratch is the shard's own inflater and the windows of its
	// connections that keep a compression context (nil: made on first
	// use).
	DeflateScratch *DeflateScratch

	// chunks holds the full chunks of large messages being reassembled,
	// by connection (see reassembly.go); made on first use.
	chunks map[*Conn][]*bufpool.Buf
}

func (c *Config) maxMessage() int64 {
	if c.MaxMessage > 0 {
		return min(c.MaxMessage, MaxMessageLimit)
	}
	return DefaultMaxMessage
}

// MaxMessageLimit caps Config.MaxMessage: a message is held whole in
// memory, and a connection counts its frames in 32 bits.
const MaxMessageLimit = 1 << 30

// MaxOutboundBytes is the outbound limit in force.
func (c *Config) MaxOutboundBytes() int64 {
	if c.MaxOutbound > 0 {
		return c.MaxOutbound
	}
	return DefaultMaxOutbound
}

// Sink receives what a connection's input produces. The shard implements
// it; calls come from the shard thread, inside Input or Resume.
type Sink interface {
	// Upgrade decides on an opening handshake that passed the codec's
	// checks: it returns the subprotocol to answer with, or an error, a
	// *codec.HandshakeError for the HTTP status to refuse with; fields
	// are header lines ("Name: value\r\n" each, already checked) to add
	// to the answer either way. req's slices alias the read buffer and
	// fields may alias the sink's scratch: both are valid only during the
	// call and until the answer is built.
	Upgrade(c *Conn, req *codec.Request) (protocol string, fields []byte, err error)
	// Message receives one complete message. If buf is nil, data aliases
	// the read buffer and is valid only during the call; otherwise data
	// lives in buf and the sink takes over buf's reference. Returning
	// false pauses the connection: the rest of the input is kept until
	// Resume (the owner stops reading the socket meanwhile).
	Message(c *Conn, op codec.Opcode, data []byte, buf *bufpool.Buf) bool
}

// Conn is one connection's protocol state. The zero value is not usable;
// call Init. It belongs to one goroutine (the owning shard's thread),
// except Admit, Unadmit and Queued, which are safe from any goroutine.
type Conn struct {
	// Every connection pays for each byte here: pointers and counters
	// first, then the small fields packed together; what is rarely set
	// (the close reason) is derived from closeErr when needed.

	cfg *Config // immutable after Init

	// owned by the shard thread
	stash    *bufpool.Buf // input not yet parsed (see package doc)
	closeErr error        // why the connection ended, for OnClose

	// the data frame being read, when remaining > 0 or a message is open
	msg *bufpool.Buf // reassembled payload so far
	// Both at most the message limit plus deflate's slack, under 2^31:
	// MaxMessage is capped at MaxMessageLimit.
	remaining int32 // payload bytes of the current data frame still to come
	msgLen    int32 // announced length so far, for the size limit

	out outQueue

	// shared with sending goroutines
	queued atomic.Int64 // Cost of the frames admitted to the outbound queue and not yet written

	// owned by the shard thread
	text     codec.UTF8Validator
	mask     [4]byte      // the data frame's masking key
	maskPos  uint8        // position in the key for the next payload byte
	frameFin bool         // the current data frame ends its message
	msgOpen  bool         // a message has started and not finished
	msgOp    codec.Opcode // its opcode, | msgDeflated if it is compressed
	role     codec.Role   // may change once, by SetClient, before any I/O
	state    State
	paused   bool // the sink refused a message; input waits in stash
	// closeSent: our close frame is queued; no frame may follow it.
	closeSent bool
	closeRecv bool // the peer's close frame arrived
	// closePending: input ended the conversation (the peer's close, a
	// protocol error); our close frame waits for SendClose, so that the
	// handler's answers to earlier messages go out before it. What it
	// says follows from closeErr (see closeReply).
	closePending bool
	// echoClose: the pending close answers the peer's, echoing its code.
	echoClose bool
	pongs     uint8 // pong frames in the queue (see MaxWaitingPongs)
	// ext: permessage-deflate as negotiated (see deflate.go); set before
	// other goroutines can reach the connection, read-only after.
	ext ext
}

// Init readies c for a new connection in the given starting state:
// StateHandshake for a server that still has to read the opening
// handshake, StateOpen for one that was upgraded elsewhere (net/http).
func (c *Conn) Init(cfg *Config, start State) {
	*c = Conn{cfg: cfg, state: start, role: cfg.Role}
}

// Role is the side of the connection this end plays.
func (c *Conn) Role() codec.Role { return c.role }

// SetClient makes c the client end of its connection, whatever the
// Config says: its frames are masked and masked frames from the peer are
// refused (RFC 6455 §5.1). Call it right after Init, for a connection
// this side dialed.
func (c *Conn) SetClient() { c.role = codec.RoleClient }

// rules are what incoming frames are checked against.
func (c *Conn) rules() codec.Rules {
	r := codec.Rules{Role: c.role, MaxPayload: c.wireLimit()}
	if c.ext.negotiated() {
		r.Rsv = codec.Rsv1 // and RSV1 only on a message's first frame
	}
	return r
}

// State returns where the connection is in its life.
func (c *Conn) State() State { return c.state }

// ClosePending reports whether a close frame is owed to the peer and waits
// for SendClose.
func (c *Conn) ClosePending() bool { return c.closePending }

// CloseSent reports whether this side's close frame is queued: nothing
// more can be sent.
func (c *Conn) CloseSent() bool { return c.closeSent }

// CloseComplete reports whether both close frames have been exchanged:
// the peer will send nothing more, so the socket can be closed as soon as
// our close frame is written.
func (c *Conn) CloseComplete() bool { return c.closeSent && c.closeRecv }

// Paused reports whether input is held back because the sink refused a
// message; the owner must not read the socket until Resume.
func (c *Conn) Paused() bool { return c.paused }

// Err returns why the connection ended: a *codec.CloseError with the
// peer's close frame, a *codec.ProtocolError for a violation, or whatever
// Fail was given. Nil while the connection is open.
func (c *Conn) Err() error { return c.closeErr }

// Queued returns the memory held by the outbound queue (see Cost):
// frames admitted and not yet written. Safe from any goroutine.
func (c *Conn) Queued() int64 { return c.queued.Load() }

// OutboundFull reports whether the outbound queue holds its limit: Admit
// refuses data until it drains. Safe from any goroutine.
func (c *Conn) OutboundFull() bool { return c.queued.Load() >= c.cfg.MaxOutboundBytes() }

// Admit reserves outbound room of cost n (Cost of the frame) for a frame
// a sender will post to the shard, or reports false when the queue
// already holds the limit. The limit is checked before adding, so one
// message larger than the limit can still be sent to a peer that keeps
// up; the queue holds at most the limit plus one message, plus the
// control frames that bypass it (one pong, one ping, one close). Safe
// from any goroutine. Every admitted frame must reach Enqueue, which
// accounts for it from then on.
func (c *Conn) Admit(n int64) bool {
	limit := c.cfg.MaxOutboundBytes()
	for {
		q := c.queued.Load()
		if q >= limit {
			return false
		}
		if c.queued.CompareAndSwap(q, q+n) {
			return true
		}
	}
}

// Unadmit returns room reserved by Admit for a frame that will not be
// enqueued after all.
func (c *Conn) Unadmit(n int64) { c.queued.Add(-n) }

// InputPending reports whether the peer has started something it has not
// finished: a data message, or a frame whose bytes are only partly in.
// The owner bounds how long that may last (a message deadline). Input
// held back because this side paused does not count: that wait is ours.
func (c *Conn) InputPending() bool {
	if c.paused || (c.state != StateOpen && c.state != StateClosing) {
		return false
	}
	return c.msgOpen || c.remaining > 0 || c.stash != nil
}

// Closed reports that the socket is closed: the final state.
func (c *Conn) Closed() bool { return c.state == StateClosed }

// SetClosed records that the owner closed the socket and releases every
// buffer the connection still holds. err, if the connection had not ended
// already, becomes Err (ErrPeerGone for a peer that vanished).
func (c *Conn) SetClosed(err error) {
	if c.closeErr == nil {
		if err == nil {
			err = ErrPeerGone
		}
		c.closeErr = err
	}
	c.endInput(StateClosed)
	c.queued.Add(-c.out.clear(c.cfg.Nodes))
	c.pongs = 0
	c.dropWindows()
}

// Config returns the configuration c was given: its shard's.
func (c *Conn) Config() *Config { return c.cfg }
