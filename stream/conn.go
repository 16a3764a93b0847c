package stream

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// Errors of a Conn's own making. What the peer does wrong comes back as
// the codec's *codec.ProtocolError sentinels (with the close code that
// was sent), and the peer's close frame as a *codec.CloseError.
var (
	// ErrClosed is returned by calls on a Conn after Close, and by writes
	// after a close frame went out. errors.Is(ErrClosed, net.ErrClosed)
	// holds, as for any closed net.Conn.
	ErrClosed = fmt.Errorf("stream: %w", net.ErrClosed)
	// ErrConnLost: the peer's TCP stream ended without a close frame.
	ErrConnLost = &codec.CloseError{Code: codec.StatusAbnormal, Reason: "connection lost without a close frame"}
	// ErrOpcode: WriteMessage and NextWriter take OpText or OpBinary.
	ErrOpcode = errors.New("stream: a message is text or binary")
	// ErrControlTooLong: a ping payload (or close reason) over the 125
	// bytes a control frame can carry.
	ErrControlTooLong = errors.New("stream: control payload over 125 bytes")
	// ErrBadURL: Dial takes ws:// and wss:// URLs with a host.
	ErrBadURL = errors.New("stream: URL must be ws:// or wss:// with a host")
)

// Conn is one WebSocket connection over a net.Conn, used with blocking
// calls. Read it as messages (ReadMessage, NextReader) or as a byte
// stream (Read); write messages (WriteMessage, NextWriter) or bytes
// (Write). See the package documentation for which goroutines may call
// what.
type Conn struct {
	// Immutable after the handshake.
	nc       net.Conn
	rules    codec.Rules // what peer frames are checked against; Role is ours
	protocol string
	cfg      settings
	readDone chan struct{} // closed once input has ended for good (see endRead)
	closing  atomic.Bool   // Close or CloseWith was called

	// Input: owned by the goroutine holding readMu.
	readMu     sync.Mutex
	rbuf       []byte // unread input is rbuf[rpos:rend]
	rpos, rend int
	in         inbound
	readerSeq  uint64        // the message the reader NextReader handed out reads
	reader     messageReader // handed out by NextReader
	readErr    error         // why input ended; sticky once set (timeouts never are)
	msg        *bufpool.Buf  // ReadMessage's last message, released by the next read
	partial    *bufpool.Buf  // what ReadMessage had read of a message when its deadline hit
	resume     bool          // the next ReadMessage goes on with that message

	// Outgoing messages: owned by the goroutine holding msgMu, which a
	// writer holds for a whole message.
	msgMu  sync.Mutex
	wbuf   []byte // a frame being staged: header room, then payload
	writer messageWriter

	// Frames on the wire: guarded by writeMu, held for one whole frame,
	// so that a pong or close can go between the frames of a message.
	writeMu   sync.Mutex
	writeErr  error // sticky: after a failed write the stream may hold half a frame
	closeSent bool
	ctrl      [codec.MaxHeaderSize + codec.MaxControlPayload]byte
	hdr       [codec.MaxHeaderSize]byte
	iov       [2][]byte
	bufs      net.Buffers // iov as handed to WriteTo, which consumes it
}

// inbound is where the reading stands: the data message being read and
// its current frame.
type inbound struct {
	msgOpen   bool // a data message has begun and has not ended
	op        codec.Opcode
	msgLen    int64  // payload announced so far, against MaxMessageSize
	seq       uint64 // counts messages begun
	remaining int64  // payload of the current data frame not yet read
	fin       bool   // the current data frame ends the message
	masked    bool
	mask      [4]byte
	maskPos   int
	text      codec.UTF8Validator
}

// newConn wraps nc for role once its opening handshake is done (or while
// it is under way: the handshake reads into rbuf).
func newConn(nc net.Conn, role codec.Role, opts *Options) *Conn {
	cfg := resolve(opts)
	c := &Conn{
		nc:       nc,
		rules:    codec.Rules{Role: role, MaxPayload: cfg.maxMessage},
		cfg:      cfg,
		readDone: make(chan struct{}),
		rbuf:     make([]byte, cfg.readBuf),
		wbuf:     make([]byte, cfg.writeBuf),
	}
	c.reader.c = c
	c.writer.c = c
	return c
}

// Subprotocol is the subprotocol agreed on in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.protocol }

// NetConn is the connection c runs over (a *tls.Conn for wss). Reading
// or writing it directly corrupts the WebSocket stream.
func (c *Conn) NetConn() net.Conn { return c.nc }

// LocalAddr is the underlying connection's.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr is the underlying connection's.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets the underlying connection's read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// SetReadDeadline sets the underlying connection's read deadline. A read
// that times out can be retried with a later deadline: nothing is lost.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying connection's write deadline. A
// write that times out may have sent part of a frame, so it ends the
// write side: later writes fail with the same error.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

var _ net.Conn = (*Conn)(nil)
