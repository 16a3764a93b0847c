package stream

import (
	"io"
	"math/rand/v2"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// WriteMessage writes p as one text or binary message, in one frame. It
// waits for a message another goroutine is writing to finish. p is not
// modified (a client masks a copy) and may be reused when the call
// returns. Text is sent as given: the caller vouches that it is UTF-8.
func (c *Conn) WriteMessage(op codec.Opcode, p []byte) error {
	if op != codec.OpText && op != codec.OpBinary {
		return ErrOpcode
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	return c.writeData(op, true, p)
}

// Write sends p as one binary message (a p longer than MaxMessageSize as
// several, each at most that long): the byte-stream side of Read. An
// empty p sends nothing.
func (c *Conn) Write(p []byte) (int, error) {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	n := 0
	for n < len(p) {
		k := int(min(int64(len(p)-n), c.cfg.maxMessage))
		if err := c.writeData(codec.OpBinary, true, p[n:n+k]); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// NextWriter starts a text or binary message to be written in pieces,
// for messages too large to hold in memory. Writes are gathered in the
// write buffer and sent as a frame each time it fills; a Write larger
// than the buffer goes out as a frame of its own, without a copy (a
// server's). Close sends what is left as the final frame.
//
// Other writers wait until the writer is closed, so the goroutine that
// holds it must Close it before it writes anything else; the reader's
// pongs and a Close go out between its frames. The writer is valid until
// its Close.
func (c *Conn) NextWriter(op codec.Opcode) (io.WriteCloser, error) {
	if op != codec.OpText && op != codec.OpBinary {
		return nil, ErrOpcode
	}
	c.msgMu.Lock()
	w := &c.writer
	w.op, w.n, w.open = op, 0, true
	return w, nil
}

// messageWriter is what NextWriter returns; one lives in each Conn, used
// by whoever holds msgMu. Staged payload sits in wbuf after room for the
// largest header, so a frame is written from wbuf in one piece.
type messageWriter struct {
	c    *Conn
	op   codec.Opcode // of the next frame: the message's, then continuation
	n    int          // payload bytes staged in wbuf[codec.MaxHeaderSize:]
	open bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, ErrClosed
	}
	c := w.c
	room := len(c.wbuf) - codec.MaxHeaderSize
	written := 0
	for len(p) > 0 {
		if w.n == room {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		if w.n == 0 && len(p) >= room {
			if err := c.writeData(w.op, false, p); err != nil {
				return written, err
			}
			w.op = codec.OpContinuation
			return written + len(p), nil
		}
		k := copy(c.wbuf[codec.MaxHeaderSize+w.n:], p)
		w.n += k
		written += k
		p = p[k:]
	}
	return written, nil
}

// Close sends the final frame and lets the next writer go.
func (w *messageWriter) Close() error {
	if !w.open {
		return ErrClosed
	}
	err := w.flush(true)
	w.open = false
	w.c.msgMu.Unlock()
	return err
}

// flush sends the staged payload as one frame.
func (w *messageWriter) flush(fin bool) error {
	c := w.c
	h := c.header(w.op, fin, w.n)
	start := codec.MaxHeaderSize - h.Size()
	codec.EncodeHeader(c.wbuf[start:], h)
	frame := c.wbuf[start : codec.MaxHeaderSize+w.n]
	if h.Masked {
		codec.Mask(h.Mask, 0, frame[h.Size():])
	}
	w.op, w.n = codec.OpContinuation, 0
	return c.writeFrame(frame)
}

// header is the header of a frame of ours. A client masks every frame
// with a fresh key (RFC 6455 §5.3): the runtime's ChaCha8 generator, as
// the engine uses, unpredictable to a script that chose the payload.
func (c *Conn) header(op codec.Opcode, fin bool, n int) codec.Header {
	h := codec.Header{Fin: fin, Op: op, Length: int64(n)}
	if c.rules.Role == codec.RoleClient {
		h.Masked = true
		k := rand.Uint32()
		h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	}
	return h
}

// maskChunk bounds the pooled buffer a client masks a large payload in.
const maskChunk = 64 << 10

// writeData writes one data frame carrying p; the caller holds msgMu.
// A frame that fits the write buffer is staged there and written in one
// piece: one system call, one TLS record. A larger one is written as
// header and payload in one vectored write (writev on TCP) when nothing
// needs masking, or masked a chunk at a time in a pooled buffer.
func (c *Conn) writeData(op codec.Opcode, fin bool, p []byte) error {
	h := c.header(op, fin, len(p))
	hn := h.Size()
	if hn+len(p) <= len(c.wbuf) {
		codec.EncodeHeader(c.wbuf, h)
		copy(c.wbuf[hn:], p)
		if h.Masked {
			codec.Mask(h.Mask, 0, c.wbuf[hn:hn+len(p)])
		}
		return c.writeFrame(c.wbuf[:hn+len(p)])
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	if !h.Masked {
		codec.EncodeHeader(c.hdr[:], h)
		c.iov = [2][]byte{c.hdr[:hn], p}
		c.bufs = c.iov[:]
		_, err := c.bufs.WriteTo(c.nc)
		c.iov = [2][]byte{}
		return c.wrote(err)
	}
	buf := bufpool.Get(min(hn+len(p), maskChunk))
	defer buf.Release()
	b := buf.B[:cap(buf.B)]
	codec.EncodeHeader(b, h)
	k := copy(b[hn:], p)
	pos := codec.Mask(h.Mask, 0, b[hn:hn+k])
	if _, err := c.nc.Write(b[:hn+k]); err != nil {
		return c.wrote(err)
	}
	for p = p[k:]; len(p) > 0; p = p[k:] {
		k = copy(b, p)
		pos = codec.Mask(h.Mask, pos, b[:k])
		if _, err := c.nc.Write(b[:k]); err != nil {
			return c.wrote(err)
		}
	}
	return nil
}

// writeFrame writes a whole encoded frame.
func (c *Conn) writeFrame(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	_, err := c.nc.Write(frame)
	return c.wrote(err)
}

// writable reports why nothing more may be written, if so; the caller
// holds writeMu. "After sending a Close frame, the endpoint MUST NOT send
// any more data frames" (§5.5.1), nor, we take it, pongs.
func (c *Conn) writable() error {
	switch {
	case c.writeErr != nil:
		return c.writeErr
	case c.closeSent:
		return ErrClosed
	}
	return nil
}

// wrote files the outcome of a write; the caller holds writeMu.
func (c *Conn) wrote(err error) error {
	if err != nil {
		c.writeErr = err
	}
	return err
}

// Ping sends a ping with payload (at most 125 bytes). The pong comes back
// to the reading goroutine, which tells Options.OnPong.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > codec.MaxControlPayload {
		return ErrControlTooLong
	}
	return c.writeControl(codec.OpPing, payload)
}

// writeControl writes a control frame, between the frames of a message
// being streamed if need be.
func (c *Conn) writeControl(op codec.Opcode, payload []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	return c.wrote(c.sendControl(op, payload))
}

func (c *Conn) sendControl(op codec.Opcode, payload []byte) error {
	h := c.header(op, true, len(payload))
	n, _ := codec.EncodeHeader(c.ctrl[:], h)
	n += copy(c.ctrl[n:], payload)
	if h.Masked {
		codec.Mask(h.Mask, 0, c.ctrl[h.Size():n])
	}
	_, err := c.nc.Write(c.ctrl[:n])
	return err
}

// writeClose sends a close frame with payload unless one went out
// already; sent says whether this call sent it.
func (c *Conn) writeClose(payload []byte) (sent bool, err error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closeSent || c.writeErr != nil {
		return false, c.writeErr
	}
	c.closeSent = true
	if err := c.wrote(c.sendControl(codec.OpClose, payload)); err != nil {
		return false, err
	}
	return true, nil
}
