package conn

import (
	"errors"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// Input processes bytes read from the socket. data may be modified in
// place (unmasking). Bytes that cannot be processed yet are copied into
// the stash; the owner passes them first on the next read (TakeStash).
func (c *Conn) Input(data []byte, sink Sink) {
	if c.state == StateHandshake {
		data = c.handshake(data, sink)
	}
	if c.paused {
		c.keep(data)
		return
	}
	for len(data) > 0 {
		if c.state != StateOpen && c.state != StateClosing {
			return // draining: the rest is discarded
		}
		var ok bool
		if c.remaining > 0 {
			data = c.payload(data, sink)
			continue
		}
		data, ok = c.frame(data, sink)
		if !ok {
			return
		}
	}
}

// StashLen is the number of input bytes waiting in the stash.
func (c *Conn) StashLen() int {
	if c.stash == nil {
		return 0
	}
	return len(c.stash.B)
}

// TakeStash moves stashed input to the start of dst and returns its
// length; the owner then reads the socket into dst[n:]. dst must be at
// least as large as any single Input the owner passes.
func (c *Conn) TakeStash(dst []byte) int {
	if c.stash == nil {
		return 0
	}
	n := copy(dst, c.stash.B)
	c.stash.Release()
	c.stash = nil
	return n
}

// Resume continues after the sink refused a message: it processes the
// stashed input, which may pause the connection again.
func (c *Conn) Resume(sink Sink) {
	if !c.paused {
		return
	}
	c.paused = false
	s := c.stash
	c.stash = nil
	if s == nil {
		return
	}
	c.Input(s.B, sink)
	s.Release()
}

// keep stashes data for later; data may alias the current stash.
func (c *Conn) keep(data []byte) {
	if len(data) == 0 {
		return
	}
	nb := bufpool.Get(len(data))
	nb.B = append(nb.B, data...)
	if c.stash != nil {
		c.stash.Release()
	}
	c.stash = nb
}

// frame starts on a frame boundary: it decodes the header and handles a
// whole control frame, or starts a data frame. It reports false when it
// stopped (incomplete input stashed, the connection failed or paused).
func (c *Conn) frame(data []byte, sink Sink) ([]byte, bool) {
	h, n, err := codec.DecodeHeader(data)
	if errors.Is(err, codec.ErrNeedMore) {
		c.keep(data)
		return nil, false
	}
	if err == nil {
		err = c.rules().Check(h)
	}
	if err != nil {
		c.Fail(err)
		return nil, false
	}
	if h.Op.IsControl() {
		end := n + int(h.Length) // at most 139: Check bounds control lengths
		if len(data) < end {
			c.keep(data)
			return nil, false
		}
		payload := data[n:end]
		codec.Mask(h.Mask, 0, payload)
		c.control(h.Op, payload)
		return data[end:], true
	}
	if err := c.startData(h); err != nil {
		c.Fail(err)
		return nil, false
	}
	data = data[n:]
	// The common case: a whole unfragmented message already in the read
	// buffer is unmasked in place and handed over without a copy.
	if h.Fin && !c.msgOpen && int64(len(data)) >= h.Length {
		payload := data[:h.Length]
		codec.Mask(h.Mask, 0, payload)
		if h.Rsv&codec.Rsv1 != 0 {
			rest := data[h.Length:]
			return rest, c.deliverCompressed(sink, h.Op, payload, rest)
		}
		if h.Op == codec.OpText && !validText(payload) {
			c.Fail(codec.ErrInvalidUTF8)
			return nil, false
		}
		if !sink.Message(c, h.Op, payload, nil) {
			c.paused = true
			c.keep(data[h.Length:])
			return nil, false
		}
		return data[h.Length:], true
	}
	c.remaining, c.mask, c.maskPos, c.frameFin = int32(h.Length), h.Mask, 0, h.Fin
	if !c.msgOpen {
		c.msgOpen, c.msgOp = true, h.Op
		if h.Rsv&codec.Rsv1 != 0 {
			c.msgOp |= msgDeflated // text is checked once inflated
		}
		c.text.Reset()
	}
	if h.Length == 0 && h.Fin {
		return data, c.finish(sink, data)
	}
	return data, true
}

// startData applies the rules that span frames before any payload is
// read: continuation only inside a message, no new message inside one,
// and the message size limit, checked on the announced length.
func (c *Conn) startData(h codec.Header) error {
	if h.Op == codec.OpContinuation {
		// "a fragmented message consists of a single frame with the FIN
		// bit clear and an opcode other than 0, followed by zero or more
		// frames with the FIN bit clear and the opcode set to 0" (§5.4)
		if !c.msgOpen {
			return codec.ErrUnexpectedContinuation
		}
	} else if c.msgOpen {
		return codec.ErrExpectedContinuation
	}
	if !c.msgOpen {
		c.msgLen = 0
	}
	if int64(c.msgLen)+h.Length > c.wireLimit() {
		return codec.ErrMessageTooBig
	}
	c.msgLen += int32(h.Length)
	return nil
}

// payload copies the next bytes of the current data frame into the
// message buffer, growing it only by what actually arrived, so a peer
// that announces a large frame and sends it slowly costs what it sent.
func (c *Conn) payload(data []byte, sink Sink) []byte {
	n := min(int(c.remaining), len(data))
	chunk := data[:n]
	c.maskPos = uint8(codec.Mask(c.mask, int(c.maskPos), chunk))
	if c.msgOp == codec.OpText && !c.text.Write(chunk) {
		c.Fail(codec.ErrInvalidUTF8)
		return nil
	}
	if !c.appendMsg(chunk) {
		return nil
	}
	c.remaining -= int32(n)
	rest := data[n:]
	if c.remaining == 0 && c.frameFin {
		if !c.finish(sink, rest) {
			return nil
		}
	}
	return rest
}

// finish hands over the message just completed; rest is the input after
// it, stashed if the sink pauses the connection.
func (c *Conn) finish(sink Sink, rest []byte) bool {
	if c.msgOp == codec.OpText && !c.text.Complete() {
		c.Fail(codec.ErrInvalidUTF8)
		return false
	}
	buf := c.takeMsg()
	if buf == nil { // an empty message, in empty fragments
		buf = bufpool.Get(0)
	}
	op := c.msgOp
	c.msgOpen, c.msgLen = false, 0
	if op&msgDeflated != 0 {
		ok := c.deliverCompressed(sink, op&^msgDeflated, buf.B, rest)
		buf.Release()
		return ok
	}
	if !sink.Message(c, op, buf.B, buf) {
		c.paused = true
		c.keep(rest)
		return false
	}
	return true
}

func validText(p []byte) bool {
	var v codec.UTF8Validator
	v.Write(p)
	return v.Complete()
}

// control handles a whole, unmasked control frame.
func (c *Conn) control(op codec.Opcode, payload []byte) {
	switch op {
	case codec.OpPing:
		// "Upon receipt of a Ping frame, an endpoint MUST send a Pong
		// frame in response, unless it already received a Close frame."
		// Once our own close is out, nothing may follow it.
		if !c.closeSent {
			c.queuePong(payload)
		}
	case codec.OpPong:
		// Unsolicited pongs are allowed and need no answer; liveness is
		// tracked by the owner from any input.
	case codec.OpClose:
		c.peerClose(payload)
	}
}
