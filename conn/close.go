package conn

import (
	"bytes"
	"errors"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/internal/deflate"
)

// Close starts the close handshake from this side: frames already queued
// go out first, then a close frame with code and reason; the connection
// waits in StateClosing for the peer's answer, which the owner bounds
// with its close deadline. It fails with ErrClosed if a close is already
// under way, or with the codec's error for a code or reason that may not
// be sent.
func (c *Conn) Close(code codec.StatusCode, reason string) error {
	if c.closeSent || c.closePending || c.state >= StateDraining {
		return ErrClosed
	}
	payload, err := codec.AppendClosePayload(make([]byte, 0, codec.MaxControlPayload), code, reason)
	if err != nil {
		return err
	}
	if c.state == StateHandshake {
		// No WebSocket yet to close: just hang up.
		c.closeErr = &codec.CloseError{Code: code, Reason: reason}
		c.endInput(StateDraining)
		return nil
	}
	c.closeErr = &codec.CloseError{Code: code, Reason: reason}
	c.queueControl(codec.OpClose, payload)
	c.closeSent = true
	c.state = StateClosing
	return nil
}

// Evict closes a connection whose peer does not keep up: frames not yet
// begun are dropped (their bytes stop counting against the limit) and
// the close frame goes out right after the frame being written, if any.
func (c *Conn) Evict(code codec.StatusCode, reason string) error {
	if c.closeSent || c.closePending || c.state >= StateDraining {
		return ErrClosed
	}
	c.queued.Add(-c.out.dropUnstarted(c.cfg.Nodes))
	c.pongs = 0
	if h := c.out.head; h != nil && h.pong {
		c.pongs = 1
	}
	return c.Close(code, reason)
}

// Fail ends the connection because of err: no more input is processed,
// and, for a peer's protocol error, a close frame with the error's close
// code (1011 for errors that carry none) and reason becomes pending (see
// SendClose) unless a close was already sent.
func (c *Conn) Fail(err error) {
	if c.state >= StateDraining {
		return
	}
	if c.closeErr == nil {
		c.closeErr = err
	}
	if c.state != StateHandshake && !c.closeSent {
		c.closePending = true
	}
	c.endInput(StateDraining)
}

// SendClose queues the pending close frame. The owner calls it once the
// handler has answered every message delivered before the close: "after
// sending a Close frame, the endpoint MUST NOT send any more data
// frames", so those answers must be queued first.
func (c *Conn) SendClose() {
	if !c.closePending || c.closeSent || c.state == StateClosed {
		return
	}
	c.closePending = false
	code, reason := c.closeReply()
	payload, err := codec.AppendClosePayload(make([]byte, 0, codec.MaxControlPayload), code, reason)
	if err != nil {
		payload, _ = codec.AppendClosePayload(payload[:0], code, "")
	}
	c.queueControl(codec.OpClose, payload)
	c.closeSent = true
}

// closeReply is what the pending close frame says: the peer's code
// echoed, or for a failure the error's close code (1011 for errors that
// carry none) and a protocol error's reason.
func (c *Conn) closeReply() (codec.StatusCode, string) {
	var ce *codec.CloseError
	if c.echoClose && errors.As(c.closeErr, &ce) {
		return ce.Code, ""
	}
	code, ok := codec.CloseCodeOf(c.closeErr)
	if !ok || !code.ValidOnWire() {
		code = codec.StatusInternal
	}
	var reason string
	var pe *codec.ProtocolError
	if errors.As(c.closeErr, &pe) {
		reason = pe.Reason
	}
	if len(reason) > codec.MaxCloseReason {
		reason = reason[:codec.MaxCloseReason]
	}
	return code, reason
}

// peerClose handles the peer's close frame.
func (c *Conn) peerClose(payload []byte) {
	code, reason, err := codec.ParseClose(payload)
	if err != nil {
		c.Fail(err)
		return
	}
	c.closeRecv = true
	if !c.closeSent {
		// "If an endpoint receives a Close frame and did not previously
		// send a Close frame, the endpoint MUST send a Close frame in
		// response. [...] typically echoing the status code it received."
		// It is pending until the messages before it are answered.
		c.closeErr = &codec.CloseError{Code: code, Reason: string(reason)}
		c.closePending, c.echoClose = true, true
	}
	c.endInput(StateDraining)
}

// endInput stops all processing of input and drops a half-read message.
func (c *Conn) endInput(s State) {
	c.state = s
	c.paused = false
	c.remaining = 0
	c.msgOpen = false
	c.dropMsg()
	if c.stash != nil {
		c.stash.Release()
		c.stash = nil
	}
}

// handshake runs the server side of the opening handshake on the input
// and returns what follows the request (the client's first frames).
func (c *Conn) handshake(data []byte, sink Sink) []byte {
	req := c.cfg.Request
	if req == nil {
		req = new(codec.Request)
	}
	n, err := codec.ParseRequest(data, c.cfg.MaxHeaderBytes, req)
	if errors.Is(err, codec.ErrNeedMore) {
		c.keep(data)
		return nil
	}
	var fields []byte
	if err == nil {
		// Compression is settled before the sink opens the connection:
		// its handler may send at once, from another goroutine.
		deflateOK := false
		var params codec.DeflateParams
		if d := c.cfg.Deflate; d != nil {
			if params, deflateOK = req.NegotiateDeflate(d.Negotiate); deflateOK {
				c.SetDeflate(deflate.ForRole(params, codec.RoleServer))
			}
		}
		var protocol string
		if protocol, fields, err = sink.Upgrade(c, req); err == nil {
			b := bufpool.Get(256 + len(fields))
			if deflateOK {
				b.B = codec.AppendAcceptDeflate(b.B, req, protocol, params)
			} else {
				b.B = codec.AppendAccept(b.B, req, protocol)
			}
			b.B = withFields(b.B, fields)
			c.QueueRaw(b)
			c.state = StateOpen
			return data[n:]
		}
	}
	b := bufpool.Get(256 + len(fields))
	b.B = withFields(codec.AppendRejectError(b.B, err), fields)
	c.QueueRaw(b)
	c.closeErr = err
	c.endInput(StateDraining)
	return nil
}

// withFields adds header lines to a response, before the blank line that
// ends its header block.
func withFields(resp, fields []byte) []byte {
	if len(fields) == 0 {
		return resp
	}
	end := bytes.Index(resp, []byte("\r\n\r\n")) + 2
	resp = append(resp, fields...) // room, then shift the rest along
	copy(resp[end+len(fields):], resp[end:len(resp)-len(fields)])
	copy(resp[end:], fields)
	return resp
}
