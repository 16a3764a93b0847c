package conn

import (
	"math/rand/v2"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/internal/deflate"
)

// This file is permessage-deflate (RFC 7692) on a connection: the
// negotiated parameters, packed into one byte of Conn; inflating a
// compressed message when it is whole; compressing, when a frame is
// queued, for the connections whose sending side keeps a context. The
// machinery itself (compressors, the inflater, windows) is
// internal/deflate's.

// Deflate is a server's compression policy, shared by its shards.
type Deflate struct {
	// Negotiate is what the server agrees to when a client offers
	// permessage-deflate.
	Negotiate codec.DeflateConfig
	// Threshold: data messages shorter than this go uncompressed.
	Threshold int
	// Pool lends the compressors, to senders and shards alike.
	Pool *deflate.Pool
}

// DeflateScratch is one shard's compression state: the inflater its
// thread uses for every compressed message, and the windows of the
// connections that take over a context, kept out of line so that no
// other connection pays for them. Owned by the shard thread.
type DeflateScratch struct {
	inflater deflate.Inflater
	windows  map[*Conn]*windows
}

// windows are the contexts one connection keeps between messages: one
// per direction that takes over its context, nil for the others.
type windows struct {
	send, recv *deflate.Window
}

// ext packs what a connection negotiated into one byte of Conn: the low
// nibble says how it sends, the high nibble how it receives.
//
//	send nibble: 0 no context and a 32 KiB window (messages compressed
//	             by anyone, once, and shared); else 8 if it takes over
//	             its context, plus 15 minus its window bits
//	recv nibble: 0 nothing negotiated; 1 no context; else 2 plus its
//	             window bits minus 8, taking over the peer's context
//
// It is set once, before any other goroutine can reach the connection,
// and only read after; Send reads it from any goroutine.
type ext uint8

const (
	extSendTakeover = 8
	extRecvNone     = 0
	extRecvStateful = 2
)

func makeExt(p deflate.Params) ext {
	send := ext(codec.MaxWindowBits - p.Send.Bits)
	if p.Send.Takeover {
		send |= extSendTakeover
	}
	recv := ext(1)
	if p.Recv.Takeover {
		recv = ext(extRecvStateful + p.Recv.Bits - codec.MinWindowBits)
	}
	return recv<<4 | send
}

func (e ext) negotiated() bool   { return e>>4 != extRecvNone }
func (e ext) sendTakeover() bool { return e.negotiated() && e&extSendTakeover != 0 }
func (e ext) sendBits() uint8    { return codec.MaxWindowBits - uint8(e&7) }
func (e ext) recvTakeover() bool { return e>>4 >= extRecvStateful }
func (e ext) recvBits() uint8    { return uint8(e>>4) - extRecvStateful + codec.MinWindowBits }
func (e ext) sharesFrames() bool { return e.negotiated() && e&0xf == 0 }
func (e ext) needsWindows() bool { return e.sendTakeover() || e.recvTakeover() }

// msgDeflated marks, in Conn.msgOp, a message whose first frame had
// RSV1: it is reassembled compressed and inflated when whole. Opcodes
// use the low four bits only.
const msgDeflated codec.Opcode = 0x40

func (c *Conn) deflateScratch() *DeflateScratch { return c.cfg.deflateScratch() }

// SetDeflate records the permessage-deflate parameters the handshake
// settled (see deflate.ForRole). Call it before any other goroutine can
// reach the connection: for a server, before its Open; for a socket
// handed to a shard, before handing it over.
func (c *Conn) SetDeflate(p deflate.Params) { c.ext = makeExt(p) }

// Compressing reports whether permessage-deflate was negotiated.
func (c *Conn) Compressing() bool { return c.ext.negotiated() }

// EncodeMessage encodes a whole data message as this connection sends
// it, into a pooled buffer holding one reference: compressed when
// permessage-deflate was negotiated, data is at or above the threshold,
// the connection keeps no sending context and a compressor is free;
// plain otherwise. (A connection that keeps its sending context gets its
// frames compressed as they are queued, in order: see Enqueue.) Safe
// from any goroutine.
func (c *Conn) EncodeMessage(op codec.Opcode, data []byte) *bufpool.Buf {
	if d := c.cfg.Deflate; d != nil && c.ext.negotiated() && !c.ext.sendTakeover() && len(data) >= d.Threshold {
		if comp := d.Pool.Get(c.ext.sendBits()); comp != nil {
			b := bufpool.Get(codec.MaxHeaderSize + len(data)/2 + 64)
			b.B = AppendCompressedFrame(b.B, comp, c.role, op, data, nil)
			d.Pool.Put(comp)
			return b
		}
	}
	b := bufpool.Get(codec.MaxHeaderSize + len(data))
	b.B = c.appendFrame(b.B, op, data)
	return b
}

// SharesCompressed reports whether a message compressed once, with no
// context and a full window, can be queued on this connection as it is.
// Safe from any goroutine.
func (c *Conn) SharesCompressed() bool { return c.ext.sharesFrames() }

func (cfg *Config) deflateScratch() *DeflateScratch {
	if cfg.DeflateScratch == nil {
		cfg.DeflateScratch = new(DeflateScratch)
	}
	return cfg.DeflateScratch
}

// windows returns c's contexts, made on first use.
func (c *Conn) windows() *windows {
	s := c.deflateScratch()
	w := s.windows[c]
	if w == nil {
		if s.windows == nil {
			s.windows = make(map[*Conn]*windows)
		}
		w = new(windows)
		if c.ext.sendTakeover() {
			w.send = deflate.NewWindow(c.ext.sendBits())
		}
		if c.ext.recvTakeover() {
			w.recv = deflate.NewWindow(c.ext.recvBits())
		}
		s.windows[c] = w
	}
	return w
}

// dropWindows forgets c's contexts when it closes.
func (c *Conn) dropWindows() {
	if c.ext.needsWindows() && c.cfg.DeflateScratch != nil {
		delete(c.cfg.DeflateScratch.windows, c)
	}
}

// wireLimit is the largest payload a message may have on the wire. A
// compressed message may be a little larger than what it inflates to
// (stored blocks cost 5 bytes per 64 KiB), so with compression the limit
// has some slack; what it inflates to is held to maxMessage.
func (c *Conn) wireLimit() int64 {
	max := c.cfg.maxMessage()
	if c.ext.negotiated() {
		max += max>>10 + 64
	}
	return max
}

// inflate inflates a compressed message's payload with the shard's
// inflater and the connection's context, if it keeps one. Past the
// message size limit it fails with ErrMessageTooBig, having inflated
// one byte more than the limit at most.
func (c *Conn) inflate(payload []byte) (*bufpool.Buf, error) {
	var win *deflate.Window
	var dict []byte
	if c.ext.recvTakeover() {
		win = c.windows().recv
		dict = win.Bytes()
	}
	b, err := c.deflateScratch().inflater.Inflate(nil, payload, dict, c.cfg.maxMessage())
	switch err {
	case nil:
	case deflate.ErrTooBig:
		return nil, codec.ErrMessageTooBig
	default:
		return nil, codec.ErrBadCompressed
	}
	if win != nil {
		win.Write(b.B)
	}
	return b, nil
}

// deliverCompressed inflates a whole compressed message, checks text,
// and hands it to the sink; rest is the input after it. It reports
// false when it stopped (failed or paused).
func (c *Conn) deliverCompressed(sink Sink, op codec.Opcode, payload []byte, rest []byte) bool {
	b, err := c.inflate(payload)
	if err == nil && op == codec.OpText && !validText(b.B) {
		b.Release()
		err = codec.ErrInvalidUTF8
	}
	if err != nil {
		c.Fail(err)
		return false
	}
	if !sink.Message(c, op, b.B, b) {
		c.paused = true
		c.keep(rest)
		return false
	}
	return true
}

// compressQueued compresses a plain data frame being queued on a
// connection that cannot take a frame compressed for everyone: one whose
// sending side takes over its context (in queue order, on the shard
// thread, with the connection's window), or keeps a window under 32 KiB
// (a published frame, compressed for it alone). It returns the frame to
// queue: a new one, with b released, or b itself when the message is
// below the threshold or no compressor is free (a message may always go
// plain; it then stays out of the context too).
func (c *Conn) compressQueued(b *bufpool.Buf) *bufpool.Buf {
	d := c.cfg.Deflate
	if d == nil {
		return b
	}
	h, n, err := codec.DecodeHeader(b.B)
	if err != nil || h.Op.IsControl() || h.Rsv&codec.Rsv1 != 0 || !h.Fin || int(h.Length) < d.Threshold {
		return b
	}
	comp := d.Pool.Get(c.ext.sendBits())
	if comp == nil {
		return b
	}
	defer d.Pool.Put(comp)
	payload := b.B[n:]
	if h.Masked {
		// A client's frame: unmask a copy (masking is its own inverse).
		plain := bufpool.Get(len(payload))
		plain.B = append(plain.B, payload...)
		codec.Mask(h.Mask, 0, plain.B)
		defer plain.Release()
		payload = plain.B
	}
	var win *deflate.Window
	var dict []byte
	if c.ext.sendTakeover() {
		win = c.windows().send
		dict = win.Bytes()
	}
	out := bufpool.Get(codec.MaxHeaderSize + len(payload)/2 + 64)
	out.B = AppendCompressedFrame(out.B, comp, c.role, h.Op, payload, dict)
	if win != nil {
		win.Write(payload)
	}
	c.queued.Add(Cost(out) - Cost(b)) // the frame admitted was b
	b.Release()
	return out
}

// AppendCompressedFrame appends one unfragmented frame of a message
// compressed by comp (with dict as its context, nil for none), as role
// sends it: RSV1 set, masked by a client.
func AppendCompressedFrame(dst []byte, comp *deflate.Compressor, role codec.Role, op codec.Opcode, msg, dict []byte) []byte {
	start := len(dst)
	// Compress after room for the longest header, then move the payload
	// down behind the header it turns out to need.
	var room [codec.MaxHeaderSize]byte
	dst = append(dst, room[:]...)
	dst = comp.Append(dst, msg, dict)
	payload := len(dst) - start - codec.MaxHeaderSize
	h := codec.Header{Fin: true, Rsv: codec.Rsv1, Op: op, Length: int64(payload)}
	if role == codec.RoleClient {
		h.Masked = true
		h.Mask = newMaskKey()
	}
	hn, _ := codec.EncodeHeader(dst[start:], h)
	copy(dst[start+hn:], dst[start+codec.MaxHeaderSize:])
	dst = dst[:start+hn+payload]
	if h.Masked {
		codec.Mask(h.Mask, 0, dst[start+hn:])
	}
	return dst
}

// newMaskKey is a fresh masking key for a client's frame (RFC 6455 §5.3).
func newMaskKey() [4]byte {
	k := rand.Uint32()
	return [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
}
