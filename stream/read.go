package stream

import (
	"errors"
	"io"
	"net"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// ReadMessage reads the next text or binary message whole, answering
// control frames on the way, and skips what an earlier NextReader or Read
// left unread of the message before.
//
// The payload is valid until the next call that reads from c (ReadMessage,
// NextReader, Read): it lives in c's read buffer or in a pooled buffer
// that the next read takes back, which is how reading costs no allocation.
// Copy it to keep it.
//
// A message over MaxMessageSize fails the connection with 1009, invalid
// UTF-8 in text with 1007, any other breach of RFC 6455 with 1002; the
// error is the codec's *codec.ProtocolError, and the close frame has gone
// out. The peer's close frame comes back as a *codec.CloseError once the
// close handshake is answered. If the read deadline passes, the error is
// a timeout and nothing is lost: ReadMessage, called again, goes on with
// the same message (another read method discards it).
func (c *Conn) ReadMessage() (codec.Opcode, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	resume, buf := c.resume, c.partial
	c.partial = nil
	c.releaseMessage()
	if !resume {
		if err := c.beginMessage(); err != nil {
			return 0, nil, err
		}
		// The common case: a whole unfragmented message already in the
		// read buffer is checked in place and handed out without a copy.
		if c.in.fin && c.in.remaining <= int64(c.rend-c.rpos) {
			p := c.rbuf[c.rpos : c.rpos+int(c.in.remaining)]
			c.rpos += len(p)
			if err := c.consumed(p); err != nil {
				return 0, nil, err
			}
			return c.in.op, p, nil
		}
	}
	for c.in.msgOpen {
		if c.in.remaining == 0 {
			if err := c.nextFrame(); err != nil {
				c.keepPartial(buf, err)
				return 0, nil, err
			}
			continue
		}
		// Grow with what arrives, not with what a header announces: a
		// peer that announces 16 MiB and sends 10 bytes costs 4 KiB, and
		// the buffer doubles only once it is full.
		if buf == nil || len(buf.B) == cap(buf.B) {
			want := min(c.in.remaining, int64(max(len(c.rbuf), bufLen(buf))))
			buf = bufpool.Grow(buf, int(want))
		}
		n, err := c.readPayload(buf.B[len(buf.B):cap(buf.B)])
		buf.B = buf.B[:len(buf.B)+n]
		if err != nil {
			c.keepPartial(buf, err)
			return 0, nil, err
		}
	}
	if buf == nil {
		return c.in.op, c.rbuf[c.rpos:c.rpos], nil // an empty message
	}
	c.msg = buf
	return c.in.op, buf.B, nil
}

func bufLen(b *bufpool.Buf) int {
	if b == nil {
		return 0
	}
	return len(b.B)
}

// keepPartial keeps a half-read message (buf may be nil: none of its
// payload read yet) for the next ReadMessage when the read only timed out.
func (c *Conn) keepPartial(buf *bufpool.Buf, err error) {
	if c.readErr == nil && isTimeout(err) {
		c.partial, c.resume = buf, true
		return
	}
	if buf != nil {
		buf.Release()
	}
}

// releaseMessage takes back the buffers of earlier reads: the next read
// is under way, so the caller is done with them.
func (c *Conn) releaseMessage() {
	if c.msg != nil {
		c.msg.Release()
		c.msg = nil
	}
	if c.partial != nil {
		c.partial.Release()
		c.partial = nil
	}
	c.resume = false
}

// NextReader returns the next text or binary message as a reader that
// returns io.EOF at its end, without holding the message in memory: the
// way to read large messages. It skips what was left unread of the
// message before. The reader is valid until the next call that reads
// from c; its errors are those of ReadMessage.
func (c *Conn) NextReader() (codec.Opcode, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	c.releaseMessage()
	if err := c.beginMessage(); err != nil {
		return 0, nil, err
	}
	c.readerSeq = c.in.seq
	return c.in.op, &c.reader, nil
}

// messageReader is what NextReader returns; one lives in each Conn.
type messageReader struct{ c *Conn }

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.in.seq != c.readerSeq || !c.in.msgOpen {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	for c.in.remaining == 0 {
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
		if !c.in.msgOpen {
			return 0, io.EOF // an empty final frame
		}
	}
	n, err := c.readPayload(p)
	if err == nil && !c.in.msgOpen {
		err = io.EOF
	}
	return n, err
}

// Read reads the payload of incoming messages as one byte stream, across
// message boundaries: the tunnelling use, where the peer's Write calls
// are messages. Text messages are read as their bytes too, once checked.
// When the peer closes with 1000 (or no code) Read returns io.EOF; any
// other close code comes back as a *codec.CloseError, a drop without a
// close frame as ErrConnLost.
func (c *Conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	c.releaseMessage()
	for {
		if c.readErr != nil {
			return 0, streamErr(c.readErr)
		}
		if len(p) == 0 {
			return 0, nil
		}
		if c.in.remaining > 0 {
			n, err := c.readPayload(p)
			return n, streamErr(err)
		}
		// Between frames: the message's next one, or the next message.
		if err := c.nextFrame(); err != nil {
			return 0, streamErr(err)
		}
	}
}

// streamErr is err as a byte stream reports it: a normal close is the
// end of the stream.
func streamErr(err error) error {
	if err == nil {
		return nil // errors.As would allocate its target
	}
	if code, ok := codec.CloseCodeOf(err); ok && isNormalClose(err, code) {
		return io.EOF
	}
	return err
}

// isNormalClose: the peer closed with 1000 or with no code, which ends a
// byte stream as TCP's FIN does.
func isNormalClose(err error, code codec.StatusCode) bool {
	var ce *codec.CloseError
	return (code == codec.StatusNormalClosure || code == codec.StatusNoStatusRcvd) && errors.As(err, &ce)
}

// beginMessage skips the rest of any message under way and reads up to
// the first frame of the next one.
func (c *Conn) beginMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	for c.in.msgOpen {
		if err := c.skipPayload(); err != nil {
			return err
		}
	}
	return c.nextFrame()
}

// skipPayload discards the buffered payload of the current frame (reading
// some if none is buffered), or moves to the next frame.
func (c *Conn) skipPayload() error {
	if c.in.remaining == 0 {
		return c.nextFrame()
	}
	if c.rpos == c.rend {
		if err := c.fill(1); err != nil {
			return err
		}
	}
	n := int(min(c.in.remaining, int64(c.rend-c.rpos)))
	p := c.rbuf[c.rpos : c.rpos+n]
	c.rpos += n
	return c.consumed(p)
}

// nextFrame reads frame headers until one starts a data frame, answering
// the control frames it meets, and applies the rules that span frames.
func (c *Conn) nextFrame() error {
	for {
		h, n, err := codec.DecodeHeader(c.rbuf[c.rpos:c.rend])
		if errors.Is(err, codec.ErrNeedMore) {
			if err := c.fill(n); err != nil {
				return err
			}
			continue
		}
		if err == nil {
			err = c.rules.Check(h)
		}
		if err != nil {
			return c.fail(err)
		}
		if !h.Op.IsControl() {
			c.rpos += n
			return c.startData(h)
		}
		// At most 139 bytes (Check bounds control payloads), within any
		// read buffer.
		end := n + int(h.Length)
		if err := c.fill(end); err != nil {
			return err
		}
		payload := c.rbuf[c.rpos+n : c.rpos+end]
		c.rpos += end
		if h.Masked {
			codec.Mask(h.Mask, 0, payload)
		}
		if err := c.control(h.Op, payload); err != nil {
			return err
		}
	}
}

// startData begins a data frame whose header Rules.Check has passed.
//
// This is the one place that gives a data frame's RSV bits a meaning.
// None has one yet: no extension is negotiated, so Check refused them.
// permessage-deflate will set RSV1 in the rules and read it here, on a
// message's first frame, to mark the message compressed; readPayload
// then reads it through an inflater.
func (c *Conn) startData(h codec.Header) error {
	if h.Op == codec.OpContinuation {
		// "a fragmented message consists of a single frame with the FIN
		// bit clear and an opcode other than 0, followed by zero or more
		// frames with the FIN bit clear and the opcode set to 0" (§5.4)
		if !c.in.msgOpen {
			return c.fail(codec.ErrUnexpectedContinuation)
		}
	} else {
		if c.in.msgOpen {
			return c.fail(codec.ErrExpectedContinuation)
		}
		c.in.msgOpen, c.in.op, c.in.msgLen = true, h.Op, 0
		c.in.seq++
		c.in.text.Reset()
	}
	if c.in.msgLen+h.Length > c.cfg.maxMessage {
		return c.fail(codec.ErrMessageTooBig)
	}
	c.in.msgLen += h.Length
	c.in.remaining, c.in.fin = h.Length, h.Fin
	c.in.masked, c.in.mask, c.in.maskPos = h.Masked, h.Mask, 0
	if h.Length == 0 && h.Fin {
		return c.endMessage()
	}
	return nil
}

// readPayload reads up to len(p) bytes of the current data frame's
// payload, which must not be exhausted. Buffered input comes first; a
// read at least as large as the read buffer goes straight from the
// connection into p, so large payloads are not copied twice.
func (c *Conn) readPayload(p []byte) (int, error) {
	if int64(len(p)) > c.in.remaining {
		p = p[:c.in.remaining]
	}
	var n int
	switch {
	case c.rpos < c.rend:
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	case len(p) >= len(c.rbuf):
		var err error
		n, err = c.nc.Read(p)
		if n == 0 {
			return 0, c.inputError(err)
		}
	default:
		if err := c.fill(1); err != nil {
			return 0, err
		}
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	}
	if err := c.consumed(p[:n]); err != nil {
		return 0, err
	}
	return n, nil
}

// consumed accounts for p, the next bytes of the current frame's payload:
// it unmasks them in place, checks text, and ends the message after its
// last byte.
func (c *Conn) consumed(p []byte) error {
	if c.in.masked {
		c.in.maskPos = codec.Mask(c.in.mask, c.in.maskPos, p)
	}
	if c.in.op == codec.OpText && !c.in.text.Write(p) {
		return c.fail(codec.ErrInvalidUTF8)
	}
	c.in.remaining -= int64(len(p))
	if c.in.remaining == 0 && c.in.fin {
		return c.endMessage()
	}
	return nil
}

func (c *Conn) endMessage() error {
	if c.in.op == codec.OpText && !c.in.text.Complete() {
		return c.fail(codec.ErrInvalidUTF8)
	}
	c.in.msgOpen = false
	return nil
}

// fill reads until at least need bytes (at most len(rbuf)) are buffered.
func (c *Conn) fill(need int) error {
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	} else if len(c.rbuf)-c.rpos < need {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for empty := 0; c.rend-c.rpos < need; {
		n, err := c.nc.Read(c.rbuf[c.rend:])
		c.rend += n
		if n > 0 {
			empty = 0
			continue // an error comes back on the next call, if it lasts
		}
		if err == nil {
			if empty++; empty < 100 {
				continue
			}
			err = io.ErrNoProgress
		}
		return c.inputError(err)
	}
	return nil
}

// inputError files an error from reading the connection. A timeout
// leaves everything as it was, to be retried; anything else ends input.
func (c *Conn) inputError(err error) error {
	switch {
	case isTimeout(err):
		return err
	case errors.Is(err, io.EOF):
		err = ErrConnLost
	case c.closing.Load() && errors.Is(err, net.ErrClosed):
		err = ErrClosed
	}
	c.endRead(err)
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// endRead records why input ended, for good, and lets a Close that waits
// for the reader go on.
func (c *Conn) endRead(err error) {
	if c.readErr != nil {
		return
	}
	c.readErr = err
	c.in.msgOpen, c.in.remaining = false, 0
	close(c.readDone)
}

// control handles a whole, unmasked control frame.
func (c *Conn) control(op codec.Opcode, payload []byte) error {
	switch op {
	case codec.OpPing:
		if c.cfg.onPing != nil {
			c.cfg.onPing(payload)
		}
		// "Upon receipt of a Ping frame, an endpoint MUST send a Pong
		// frame in response" (§5.5.2). A write that fails ends the write
		// side, where writers will see it; reading goes on.
		_ = c.writeControl(codec.OpPong, payload)
	case codec.OpPong:
		if c.cfg.onPong != nil {
			c.cfg.onPong(payload)
		}
	case codec.OpClose:
		return c.peerClose(payload)
	}
	return nil
}
