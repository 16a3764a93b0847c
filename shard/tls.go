package shard

import (
	"crypto/tls"
	"errors"
	"io"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/internal/tlsio"
	"github.com/shoalws/shoal/reactor"
)

// TLS runs on the shard like everything else (see DESIGN.md, "TLS"): the
// shard reads ciphertext from the socket, crypto/tls decrypts it on this
// thread into the plaintext path plain connections take, and at flush the
// queued frames are sealed and written. A connection's TLS state lives in
// a side table by fd, so plain connections pay nothing for it.

// secure is one connection's TLS state.
type secure struct {
	tc *tls.Conn
	tr *tlsio.Transport
	// pending holds sealed bytes the kernel has not taken yet, from off;
	// its capacity is charged to the conn's outbound bytes. Nothing more
	// is sealed until it is written, so records leave in order.
	pending *bufpool.Buf
	off     int
	// notified: our close_notify is sealed.
	notified bool
	// idle: in the shard's list of conns whose read buffers to trim.
	idle bool
	// handshakeBy is the shard clock by which the WebSocket handshake
	// must be done: HandshakeTimeout from the start of the TLS one.
	handshakeBy stamp
}

// tlsShard is a shard's TLS machinery, allocated with its first TLS
// connection.
type tlsShard struct {
	conns    fdTable[secure]
	feed     tlsio.Feed
	cipher   []byte   // socket reads of TLS conns
	gather   gatherer // frames gathered for one seal
	idle     []*Conn  // read since their buffers were last trimmed
	nextTrim int64    // shard clock of the next trim pass
	written  int      // bytes written by the writeTLS under way
}

const (
	// sealChunk is the most plaintext sealed in one go: a few full
	// records, whose ciphertext (record overhead included, even at the
	// small record sizes crypto/tls starts a connection with) fits the
	// 64 KiB buffer class that holds what the kernel does not take.
	sealChunk = 60 << 10
	// directSeal: a queued frame at least this long is sealed straight
	// from its buffer; shorter ones are gathered, so that small frames
	// share records.
	directSeal = 8 << 10
	// trimAfter: a TLS conn that has read nothing for this long gives its
	// read buffers back (tlsio.Trim). Not at once: a busy conn would
	// allocate them again on its next read.
	trimAfter = time.Second
	// maxFeedOut bounds the shard's sealing buffer kept between uses.
	maxFeedOut = 2 * sealChunk
)

// newSecure is the TLS state of a connection being adopted.
func (s *Shard) newSecure(a *Adoption) *secure {
	by := stamp(a.Begun.Add(s.cfg.HandshakeTimeout).Sub(s.start) / time.Millisecond)
	if by == 0 {
		by = 1
	}
	return &secure{tc: a.TLS, tr: a.Transport, handshakeBy: by}
}

// handshakeDeadline is when the WebSocket handshake of a conn accepted
// now must be done: HandshakeTimeout from now, or for a TLS conn from
// the start of its TLS handshake.
func (s *Shard) handshakeDeadline(sec *secure) stamp {
	if sec != nil {
		return sec.handshakeBy
	}
	return s.deadline(s.cfg.HandshakeTimeout)
}

func (s *Shard) secureOf(c *Conn) *secure {
	if s.tls == nil {
		return nil
	}
	return s.tls.conns.get(int(c.fd))
}

// registerTLS enters sec in the side table; register calls it before
// the conn sees any input.
func (s *Shard) registerTLS(c *Conn, sec *secure) {
	if s.tls == nil {
		s.tls = &tlsShard{cipher: make([]byte, s.cfg.ReadBufferSize)}
	}
	sec.tr.SetFeed(&s.tls.feed)
	s.tls.conns.set(int(c.fd), sec)
}

// adoptedTLS reads what crypto/tls holds already: records read during
// the handshake (a client's first request often rides with its
// Finished). Then the handshake's buffers can go.
func (s *Shard) adoptedTLS(c *Conn, sec *secure) {
	s.decrypt(c, sec, nil)
	if !c.Closed() {
		tlsio.Trim(sec.tc)
	}
}

// readTLS reads ciphertext from c's socket and decrypts it.
func (s *Shard) readTLS(c *Conn, sec *secure) {
	n, err := reactor.Read(int(c.fd), s.tls.cipher)
	if err != nil {
		if !reactor.IsAgain(err) {
			s.finish(c, conn.ErrPeerGone)
		}
		return
	}
	if n == 0 {
		s.finish(c, conn.ErrPeerGone)
		return
	}
	s.stats.bytesIn.Add(uint64(n))
	s.clock()
	c.lastRead, c.pingAt = s.stampNow(), 0
	if c.State() == conn.StateDraining {
		return // nothing more is processed: no need to decrypt
	}
	s.decrypt(c, sec, s.tls.cipher[:n])
	if !c.Closed() && !sec.idle {
		sec.idle = true
		s.tls.idle = append(s.tls.idle, c)
	}
}

// decrypt feeds in to crypto/tls and passes the plaintext to c's state
// machine, as read does for a plain conn: the stash first, then as much
// plaintext as the read buffer holds per call. It reads until crypto/tls
// has nothing more, so no ciphertext is left in the feed (a partial
// record stays inside the tls.Conn).
func (s *Shard) decrypt(c *Conn, sec *secure, in []byte) {
	feed := &s.tls.feed
	feed.In = in
	defer func() { feed.In = nil }()
	buf := s.readBuf
	k := 0
	if !c.Paused() {
		k = c.TakeStash(buf)
	}
	var err error
	for err == nil {
		var n int
		n, err = sec.tc.Read(buf[k:])
		k += n
		if k == len(buf) || (err != nil && k > 0) {
			s.plaintext(c, buf[:k])
			k = 0
			if c.Closed() {
				return
			}
			if c.State() == conn.StateDraining {
				break // the rest would be discarded
			}
		}
	}
	switch {
	case errors.Is(err, tlsio.ErrWouldBlock):
	case c.State() == conn.StateDraining:
	case err == io.EOF:
		// The peer's close_notify: like its FIN on a plain conn.
		s.finish(c, conn.ErrPeerGone)
		return
	default:
		// A record that fails authentication, an alert from the peer:
		// crypto/tls sealed its alert, if any; send it and hang up.
		s.sendSealed(c, sec)
		s.finish(c, &codec.CloseError{Code: codec.StatusAbnormal, Reason: "tls: " + err.Error()})
		return
	}
	// Reading may have sealed something (an alert, a key update).
	s.sendSealed(c, sec)
}

// plaintext runs c's state machine on decrypted input, or holds it if c
// is paused (a full mailbox): the rest of a decrypted read waits in the
// stash, behind what a pause left there.
func (s *Shard) plaintext(c *Conn, data []byte) {
	if c.Paused() {
		c.Hold(data)
		return
	}
	s.input(c, data)
}

// writeTLS seals c's queued frames and writes them, a chunk at a time,
// until the queue is empty or the kernel takes no more, and returns how
// many bytes the kernel took; sealed bytes it will not take wait in
// pending until EPOLLOUT. It may close c.
func (s *Shard) writeTLS(c *Conn, sec *secure) int {
	s.tls.written = 0
	for !c.Closed() {
		if sec.pending != nil && !s.writePending(c, sec) {
			break
		}
		if c.Closed() || !c.HasOutput() {
			break
		}
		s.seal(c, sec)
		if !s.sendSealed(c, sec) {
			break
		}
	}
	return s.tls.written
}

// hasOutput reports whether c has bytes waiting to be written: queued
// frames, or sealed records the kernel has not taken.
func (s *Shard) hasOutput(c *Conn) bool {
	if c.HasOutput() {
		return true
	}
	sec := s.secureOf(c)
	return sec != nil && sec.pending != nil
}

// seal encrypts the next frames of c's queue into the feed: a large
// frame straight from its buffer, small ones gathered into one write, so
// that they share records.
func (s *Shard) seal(c *Conn, sec *secure) {
	g := &s.tls.gather
	g.plain, g.direct = g.plain[:0], nil
	c.Gather(g)
	p := g.plain
	if g.direct != nil {
		p = g.direct
	}
	// Detached, Write fails only after our close_notify, and nothing is
	// queued after the last frame that precedes it.
	sec.tc.Write(p)
	g.direct = nil // the frame may be released now
	c.Written(len(p))
}

// gatherer collects up to sealChunk bytes of queued frames: the first
// one alone if it is large (no copy), else copies of the small ones.
type gatherer struct {
	plain  []byte
	direct []byte
}

// Add is part of conn.Gatherer.
func (g *gatherer) Add(b []byte) bool {
	if len(g.plain) == 0 && len(b) >= directSeal {
		g.direct = b[:min(len(b), sealChunk)]
		return false
	}
	if len(b) >= directSeal {
		return false // seal what is gathered; this one goes next, directly
	}
	take := min(len(b), sealChunk-len(g.plain))
	g.plain = append(g.plain, b[:take]...)
	return take == len(b) && len(g.plain) < sealChunk
}

// sendSealed writes what crypto/tls sealed into the feed, behind any
// pending bytes. It reports whether all of it left; if not, the rest is
// pending (or c was closed on an error).
func (s *Shard) sendSealed(c *Conn, sec *secure) bool {
	feed := &s.tls.feed
	out := feed.Out
	if len(out) == 0 {
		return sec.pending == nil
	}
	feed.Out = out[:0]
	if cap(out) > maxFeedOut {
		feed.Out = nil
	}
	if sec.pending != nil {
		s.keepPending(c, sec, out)
		return false
	}
	n, err := s.write(c, out)
	if err != nil {
		return false
	}
	if n < len(out) {
		s.keepPending(c, sec, out[n:])
		return false
	}
	return true
}

// keepPending appends sealed bytes to c's pending ones, charging the
// buffer's growth to its outbound bytes.
func (s *Shard) keepPending(c *Conn, sec *secure, b []byte) {
	var before int64
	if sec.pending != nil {
		before = conn.Cost(sec.pending)
	}
	sec.pending = bufpool.Grow(sec.pending, len(b))
	sec.pending.B = append(sec.pending.B, b...)
	c.Charge(conn.Cost(sec.pending) - before)
}

// writePending writes c's pending sealed bytes and reports whether all
// of them are gone.
func (s *Shard) writePending(c *Conn, sec *secure) bool {
	p := sec.pending.B[sec.off:]
	n, err := s.write(c, p)
	if err != nil {
		return false
	}
	if n < len(p) {
		sec.off += n
		return false
	}
	s.dropPending(c, sec)
	return true
}

func (s *Shard) dropPending(c *Conn, sec *secure) {
	if sec.pending == nil {
		return
	}
	c.Charge(-conn.Cost(sec.pending))
	sec.pending.Release()
	sec.pending, sec.off = nil, 0
}

// write writes b to c's socket; an error other than EAGAIN ends c.
func (s *Shard) write(c *Conn, b []byte) (int, error) {
	s.vec.Add(b)
	n, err := s.vec.Writev(int(c.fd))
	s.vec.Reset()
	if err != nil {
		if reactor.IsAgain(err) {
			return 0, nil
		}
		s.finish(c, conn.ErrPeerGone)
		return 0, err
	}
	s.stats.bytesOut.Add(uint64(n))
	s.tls.written += n
	return n, nil
}

// tlsDrained seals and sends our close_notify once everything before it
// is written, and reports whether the conn may now be shut down or
// closed: not while sealed bytes wait for the kernel.
func (s *Shard) tlsDrained(c *Conn, sec *secure) bool {
	if sec.pending != nil {
		return false
	}
	if !sec.notified {
		sec.notified = true
		sec.tc.CloseWrite()
		if !s.sendSealed(c, sec) {
			if !c.Closed() {
				s.setInterest(c, c.interest|reactor.Writable)
			}
			return false
		}
	}
	return !c.Closed()
}

// dropTLS forgets c's TLS state when its socket closes.
func (s *Shard) dropTLS(c *Conn) {
	sec := s.secureOf(c)
	if sec == nil {
		return
	}
	s.dropPending(c, sec)
	s.tls.conns.set(int(c.fd), nil)
}

// trimIdle gives back the read buffers of TLS conns that have read
// nothing for trimAfter, once per trimAfter.
func (s *Shard) trimIdle() {
	t := s.tls
	if t == nil || len(t.idle) == 0 || s.now < t.nextTrim {
		return
	}
	t.nextTrim = s.now + int64(trimAfter)
	keep := t.idle[:0]
	for _, c := range t.idle {
		if c.Closed() {
			continue
		}
		sec := s.secureOf(c)
		if s.since(c.lastRead) < trimAfter || !tlsio.Trim(sec.tc) {
			keep = append(keep, c)
			continue
		}
		sec.idle = false
	}
	clear(t.idle[len(keep):])
	t.idle = keep
}

// nextTrimIn is how long the shard may wait before trimIdle has work.
func (s *Shard) nextTrimIn() (time.Duration, bool) {
	t := s.tls
	if t == nil || len(t.idle) == 0 {
		return 0, false
	}
	return max(time.Duration(t.nextTrim-s.now), 0), true
}
