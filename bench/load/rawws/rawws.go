// Package rawws is a minimal blocking WebSocket client (RFC 6455) over a
// net.Conn, written for the load generator's independent-clients mode: a
// goroutine per connection, every frame masked with a fresh key, and
// reads into one large buffer whose frames are parsed in place, so a
// subscriber far behind reads dozens of messages per system call and
// nothing is allocated per message. It shares no code with shoal, so a
// shoal server is measured against a client that is not its own.
//
// It negotiates no extension and no subprotocol. A Conn is read by one
// goroutine; writes may come from several (they are serialized).
package rawws

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Opcodes (RFC 6455, 5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Errors of the frame layer. A server that sends a frame this client
// must reject (RFC 6455, 5.1 to 5.5) gets ErrProtocol, wrapped with what
// was wrong.
var (
	ErrProtocol = errors.New("rawws: protocol error")
	ErrTooLarge = errors.New("rawws: message too large")
	ErrShort    = errors.New("rawws: handshake response too large or cut short")
)

// CloseError is the server's close frame: Next returns it, after
// answering with a close frame of the same code.
type CloseError struct {
	Code   int // 1005 when the frame had no code
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("rawws: closed by the server: %d %q", e.Code, e.Reason)
}

// ReadBufferSize is a connection's read buffer to begin with; it grows
// to hold a frame larger than itself.
const ReadBufferSize = 16 << 10

// MaxMessage bounds a message, and so the read buffer: the peers accept
// 16 MiB.
const MaxMessage = 16<<20 + 1<<10

// Message is a data message as read. Payload aliases the connection's
// buffer: it is valid until the next call of Next.
type Message struct {
	Op      byte // OpText or OpBinary
	Payload []byte
	// At is when the read that completed the message returned: the
	// receive time of everything that read brought.
	At time.Time
}

// Conn is a client connection.
type Conn struct {
	nc net.Conn

	// Read side: buf[r:w] is unparsed input.
	buf  []byte
	r, w int
	at   time.Time // when the last read returned
	in   uint64    // bytes read from the wire, handshake excluded
	frag []byte    // a fragmented message being assembled
	fop  byte      // its opcode; 0 when none is under way

	wmu  sync.Mutex
	wbuf []byte // the frame being written, header and masked payload
}

// NetConn is the connection underneath, for deadlines.
func (c *Conn) NetConn() net.Conn { return c.nc }

// BytesIn is how many bytes were read after the handshake: frame
// headers included. Only the reading goroutine may call it.
func (c *Conn) BytesIn() uint64 { return c.in }

// Ready reports whether Next can return without reading: a whole
// message, a close or a bad frame is buffered. A caller that batches
// its bookkeeping per read flushes it when Ready is false, before Next
// blocks.
func (c *Conn) Ready() bool {
	b := c.buf[c.r:c.w]
	for {
		h, n, err := parseHeader(b)
		switch {
		case err != nil:
			return true
		case n == 0 || uint64(len(b)) < uint64(n)+h.length:
			return false
		case h.op == OpClose || h.fin && h.op < OpClose:
			return true
		}
		b = b[n+int(h.length):] // ping, pong or a fragment: Next goes on
	}
}

// Next returns the next text or binary message. It answers pings with
// pongs and a close with a close (then returns *CloseError), and
// returns ErrProtocol for a frame a server must not send.
func (c *Conn) Next() (Message, error) {
	for {
		fin, op, payload, err := c.frame()
		if err != nil {
			return Message{}, err
		}
		switch op {
		case OpPing:
			if err := c.write(OpPong, payload); err != nil {
				return Message{}, err
			}
			continue
		case OpPong:
			continue
		case OpClose:
			return Message{}, c.closed(payload)
		case OpContinuation:
			if c.fop == 0 {
				return Message{}, fmt.Errorf("%w: continuation with no message under way", ErrProtocol)
			}
			if len(c.frag)+len(payload) > MaxMessage {
				return Message{}, ErrTooLarge
			}
			c.frag = append(c.frag, payload...)
			if !fin {
				continue
			}
			m := Message{Op: c.fop, Payload: c.frag, At: c.at}
			c.fop, c.frag = 0, c.frag[:0]
			return m, nil
		default: // text or binary: frame checked them
			if c.fop != 0 {
				return Message{}, fmt.Errorf("%w: new message inside a fragmented one", ErrProtocol)
			}
			if fin {
				return Message{Op: op, Payload: payload, At: c.at}, nil
			}
			c.fop, c.frag = op, append(c.frag[:0], payload...)
		}
	}
}

// frame reads the next frame: its payload aliases buf.
func (c *Conn) frame() (fin bool, op byte, payload []byte, err error) {
	for {
		h, n, perr := parseHeader(c.buf[c.r:c.w])
		if perr != nil {
			return false, 0, nil, perr
		}
		if n > 0 && uint64(c.w-c.r) >= uint64(n)+h.length {
			start := c.r + n
			end := start + int(h.length)
			c.r = end
			return h.fin, h.op, c.buf[start:end:end], nil
		}
		need := n + int(h.length) // n == 0: the header itself is short
		if n == 0 {
			need = maxHeader
		}
		if err := c.fill(need); err != nil {
			return false, 0, nil, err
		}
	}
}

// fill reads at least once, first making room for need bytes from r:
// moving what is unparsed to the front, and when the buffer is full of
// a frame larger than itself, doubling it. The buffer grows as the
// frame's bytes come, not at a length a header merely claims.
func (c *Conn) fill(need int) error {
	if c.r+need > len(c.buf) || c.r == c.w {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		nb := make([]byte, min(2*len(c.buf), max(need, maxHeader)))
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	c.in += uint64(n)
	if n > 0 {
		c.at = time.Now()
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// header is a frame header as parsed.
type header struct {
	fin    bool
	op     byte
	length uint64
}

// maxHeader is the longest header a server sends: no mask key.
const maxHeader = 10

// parseHeader parses a server frame's header at the start of b. n is
// the header's length, 0 when b does not hold all of it yet. A frame no
// server may send is an error.
func parseHeader(b []byte) (h header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.fin = b[0]&0x80 != 0
	h.op = b[0] & 0x0F
	switch {
	case b[0]&0x70 != 0:
		return h, 0, fmt.Errorf("%w: reserved bits set with no extension", ErrProtocol)
	case b[1]&0x80 != 0:
		return h, 0, fmt.Errorf("%w: masked frame from the server", ErrProtocol)
	}
	switch h.op {
	case OpContinuation, OpText, OpBinary:
	case OpClose, OpPing, OpPong:
		if !h.fin || b[1]&0x7F > 125 {
			return h, 0, fmt.Errorf("%w: fragmented or long control frame", ErrProtocol)
		}
	default:
		return h, 0, fmt.Errorf("%w: opcode %#x", ErrProtocol, h.op)
	}
	switch l := b[1] & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.length, n = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		h.length, n = binary.BigEndian.Uint64(b[2:10]), 10
	default:
		h.length, n = uint64(l), 2
	}
	if h.length > MaxMessage {
		return h, 0, ErrTooLarge
	}
	return h, n, nil
}

// closed answers a close frame with one of the same code and makes the
// error Next returns.
func (c *Conn) closed(payload []byte) error {
	ce := &CloseError{Code: 1005}
	switch {
	case len(payload) == 1:
		return fmt.Errorf("%w: one-byte close payload", ErrProtocol)
	case len(payload) >= 2:
		ce.Code = int(binary.BigEndian.Uint16(payload))
		ce.Reason = string(payload[2:])
	}
	var reply []byte
	if ce.Code != 1005 {
		reply = binary.BigEndian.AppendUint16(nil, uint16(ce.Code))
	}
	_ = c.write(OpClose, reply)
	return ce
}

// WriteMessage sends payload as one masked frame of type op.
func (c *Conn) WriteMessage(op byte, payload []byte) error { return c.write(op, payload) }

func (c *Conn) write(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFrame(c.wbuf[:0], op, payload, rand.Uint32())
	_, err := c.nc.Write(c.wbuf)
	return err
}

// appendFrame appends one final frame of op carrying payload, masked
// with key, to b.
func appendFrame(b []byte, op byte, payload []byte, key uint32) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = binary.BigEndian.AppendUint32(b, key)
	start := len(b)
	b = append(b, payload...)
	mask(b[start:], key)
	return b
}

// mask XORs b with the key (RFC 6455, 5.3), eight bytes at a time.
func mask(b []byte, key uint32) {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], key)
	k8 := binary.LittleEndian.Uint64([]byte{k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]})
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
	}
	for ; i < len(b); i++ {
		b[i] ^= k[i&3]
	}
}

// Close sends a close frame (1000) and closes the connection without
// waiting for the answer: the load is over, and the server's close frame
// would only be read to be dropped.
func (c *Conn) Close() error {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.write(OpClose, []byte{0x03, 0xE8})
	return c.nc.Close()
}

// acceptKey is the Sec-WebSocket-Accept a server must answer key with.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// tlsConn wraps nc for wss://, or returns it as it is.
func tlsConn(nc net.Conn, cfg *tls.Config) net.Conn {
	if cfg == nil {
		return nc
	}
	return tls.Client(nc, cfg)
}
