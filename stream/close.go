package stream

import (
	"errors"
	"time"

	"github.com/shoalws/shoal/codec"
)

// Close runs the close handshake with 1000 (normal closure) and closes
// the underlying connection; see CloseWith.
func (c *Conn) Close() error { return c.CloseWith(codec.StatusNormalClosure, "") }

// CloseWith runs the close handshake with code and reason and closes the
// underlying connection. It sends the close frame after the frame being
// written, if any (a message being streamed is cut short), then waits for
// the peer's close frame, discarding data that comes first: by reading
// itself when no other goroutine is reading, else by letting the reader
// see it (the reader's read returns the close). Each wait is bounded by
// CloseTimeout, so CloseWith returns within about twice that, however the
// peer behaves.
//
// code must be one a close frame may carry and reason UTF-8 of at most
// 123 bytes; otherwise nothing happens and the codec's error is returned.
// Calls after the first return ErrClosed. When the connection has already
// ended (the peer closed, or failed it), CloseWith only releases it.
func (c *Conn) CloseWith(code codec.StatusCode, reason string) error {
	var payload [codec.MaxControlPayload]byte
	p, err := codec.AppendClosePayload(payload[:0], code, reason)
	if err != nil {
		return err
	}
	if !c.closing.CompareAndSwap(false, true) {
		return ErrClosed
	}
	deadline := time.Now().Add(c.cfg.closeTimeout)
	// A writer stuck on a peer that does not read holds writeMu; the
	// deadline frees it (its write fails) so that this call cannot hang.
	c.nc.SetWriteDeadline(deadline)
	if sent, _ := c.writeClose(p); sent {
		c.awaitPeerClose(deadline)
		// A client lets the server hang up first (see hangUp), unless
		// another goroutine is inside a read call.
		if c.rules.Role == codec.RoleClient && c.readMu.TryLock() {
			c.awaitEOF(deadline)
			c.readMu.Unlock()
		}
	}
	c.nc.Close()
	return nil
}

// awaitPeerClose waits, until deadline, for input to end: normally with
// the peer's close frame.
func (c *Conn) awaitPeerClose(deadline time.Time) {
	if c.readMu.TryLock() {
		c.nc.SetReadDeadline(deadline)
		for c.readErr == nil {
			if err := c.skipPayload(); err != nil && c.readErr == nil {
				break // the deadline
			}
		}
		c.releaseMessage()
		c.readMu.Unlock()
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}

// peerClose handles the peer's close frame.
func (c *Conn) peerClose(payload []byte) error {
	code, reason, err := codec.ParseClose(payload)
	if err != nil {
		return c.fail(err)
	}
	ce := &codec.CloseError{Code: code, Reason: string(reason)}
	if c.closing.Load() {
		// Our close is out and CloseWith waits for this: it closes.
		c.endRead(ce)
		return ce
	}
	// "If an endpoint receives a Close frame and did not previously send
	// a Close frame, the endpoint MUST send a Close frame in response
	// [...] typically echoing the status code it received." (§5.5.1)
	var echo [2]byte
	reply := echo[:0]
	if code != codec.StatusNoStatusRcvd {
		reply, _ = codec.AppendClosePayload(reply, code, "")
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.cfg.closeTimeout))
	c.writeClose(reply)
	c.hangUp(false)
	c.endRead(ce)
	return ce
}

// fail ends the connection for the peer's protocol error err: a close
// frame with err's code and reason, then the hang-up.
func (c *Conn) fail(err error) error {
	code, ok := codec.CloseCodeOf(err)
	if !ok || !code.ValidOnWire() {
		code = codec.StatusInternal
	}
	var reason string
	var pe *codec.ProtocolError
	if errors.As(err, &pe) {
		reason = pe.Reason
	}
	var payload [codec.MaxControlPayload]byte
	p, perr := codec.AppendClosePayload(payload[:0], code, reason)
	if perr != nil {
		p, _ = codec.AppendClosePayload(payload[:0], code, "")
	}
	if !c.closing.Load() {
		c.nc.SetWriteDeadline(time.Now().Add(c.cfg.closeTimeout))
		c.writeClose(p)
		c.hangUp(true)
	}
	c.endRead(err)
	return err
}

// hangUp closes the underlying connection once our close frame is out.
//
// A client waits for the server to hang up first, as RFC 6455 §7.1.1
// asks ("the underlying TCP connection, in most normal cases, SHOULD be
// closed first by the server"), so that the server, not the client,
// holds TIME_WAIT. A server closes at once after a complete close
// handshake, as the engine does: the peer has sent its close frame and
// may send nothing after it. After a failure the peer may still be
// sending, and closing a socket with unread input sends a reset that can
// destroy our close frame before the peer reads it; so a failed server
// says it is done writing (FIN), and either role discards input until
// the peer hangs up. Every wait is bounded by CloseTimeout.
func (c *Conn) hangUp(failed bool) {
	server := c.rules.Role == codec.RoleServer
	if server && !failed {
		c.nc.Close()
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && server {
		cw.CloseWrite()
	}
	c.awaitEOF(time.Now().Add(c.cfg.closeTimeout))
	c.nc.Close()
}

// awaitEOF reads and discards until the peer hangs up or deadline.
func (c *Conn) awaitEOF(deadline time.Time) {
	c.nc.SetReadDeadline(deadline)
	for {
		if _, err := c.nc.Read(c.rbuf); err != nil {
			break
		}
	}
	c.rpos, c.rend = 0, 0
}
