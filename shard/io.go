package shard

import (
	"net/netip"
	"sync/atomic"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/mailbox"
	"github.com/shoalws/shoal/reactor"
)

var connIDs atomic.Uint64

func (s *Shard) newConn(fd int, remote netip.AddrPort, start conn.State) *Conn {
	var c *Conn
	if s.hooks.NewConn != nil {
		c = s.hooks.NewConn()
	} else {
		c = new(Conn)
	}
	c.Init(s.cfg.Conn, start)
	c.id, c.remote, c.fd = connIDs.Add(1), makeAddrPort(remote), int32(fd)
	return c
}

// register makes c the shard's: epoll interest, the fd table, its first
// deadline; an upgraded conn gets its Open mail, its reply queued first
// and the bytes read ahead; a TLS conn (sec) then reads what crypto/tls
// holds already. If it cannot (shutting down, epoll full) the socket is
// closed with nothing written.
func (s *Shard) register(c *Conn, ahead, reply *bufpool.Buf, topics []string, sec *secure) {
	fd := int(c.fd)
	err := conn.ErrClosed
	if !s.shutting {
		err = s.poller.Add(fd, reactor.Readable)
	}
	if err != nil {
		reactor.Close(fd)
		c.SetClosed(err)
		c.ending.Store(true)
		if !s.shutting {
			s.stats.acceptErrors.Add(1)
		}
		for _, b := range []*bufpool.Buf{ahead, reply} {
			if b != nil {
				b.Release()
			}
		}
		for _, t := range topics {
			s.cfg.Registry.release(t, s.id)
		}
		return
	}
	if reply != nil {
		c.QueueRaw(reply)
	}
	for _, t := range topics {
		s.subscribe(c, t) // counted by Adopt
	}
	c.interest = reactor.Readable
	s.conns.set(fd, c)
	if sec != nil {
		s.registerTLS(c, sec)
	}
	s.stats.open.Add(1)
	s.clock()
	c.lastRead = s.stampNow()
	if c.State() == conn.StateHandshake {
		c.closeAt = s.handshakeDeadline(sec)
	} else {
		s.stats.handshakes.Add(1)
		s.opened(c)
	}
	s.rearm(c)
	if c.HasOutput() {
		// A response written for the handshake its adopter answered.
		s.markDirty(c)
	}
	if ahead != nil {
		s.input(c, ahead.B)
		ahead.Release()
	}
	if sec != nil && !c.Closed() {
		s.adoptedTLS(c, sec)
	}
}

// opened pushes the Open mail: from now on a Close mail is owed.
func (s *Shard) opened(c *Conn) {
	c.opened = true
	if s.hooks.Opened != nil {
		s.hooks.Opened(c)
	}
	s.disp.Push(&c.Box, mailbox.NewMail(mailbox.Open))
}

func (s *Shard) addListener(l *Listener) {
	if s.shutting || l.watch(s.poller) != nil {
		l.release()
		return
	}
	s.listeners = append(s.listeners, l)
}

func (s *Shard) listenerOf(fd int) *Listener {
	for _, l := range s.listeners {
		if l.fd == fd {
			return l
		}
	}
	return nil
}

func (s *Shard) closeListeners() {
	for _, l := range s.listeners {
		s.poller.Remove(l.fd)
		l.release()
	}
	s.listeners = nil
}

// accept takes the pending connections of one listener, a bounded number
// per event so that a flood of connects cannot starve established ones.
func (s *Shard) accept(lfd int) {
	for i := 0; i < 64; i++ {
		fd, remote, err := s.acceptor.Accept(lfd)
		if err != nil {
			if reactor.IsAgain(err) {
				return
			}
			s.stats.acceptErrors.Add(1)
			if reactor.IsTooManyFiles(err) {
				// Level-triggered readiness would call us straight back:
				// stop listening for a moment instead.
				s.pauseListeners()
			}
			return
		}
		s.register(s.newConn(fd, remote, conn.StateHandshake), nil, nil, nil, nil)
	}
}

func (s *Shard) pauseListeners() {
	for _, l := range s.listeners {
		l.unwatch(s.poller)
	}
	s.listenOff = s.clock() + int64(100e6)
}

func (s *Shard) resumeListeners() {
	if s.listenOff == 0 || s.now < s.listenOff {
		return
	}
	s.listenOff = 0
	for _, l := range s.listeners {
		l.watch(s.poller)
	}
}

// Ready is part of reactor.Loop.
func (s *Shard) Ready(fd int, ev reactor.Events) {
	c := s.conns.get(fd)
	if c == nil {
		if s.listenerOf(fd) != nil {
			s.accept(fd)
		}
		return
	}
	if ev&(reactor.Readable|reactor.HangUp|reactor.Error) != 0 {
		s.read(c)
	}
	if ev&reactor.Writable != 0 && !c.Closed() {
		s.flush(c)
	}
}

func (s *Shard) read(c *Conn) {
	if c.Paused() {
		// Only a hang-up or error reaches a paused conn. Its mailbox is
		// full, so what it sent stays stashed; stop watching the socket
		// (level-triggered, it would report the hang-up forever) until the
		// mailbox drains, then end it.
		if !c.detached {
			c.detached = true
			s.poller.Remove(int(c.fd))
		}
		return
	}
	if sec := s.secureOf(c); sec != nil {
		s.readTLS(c, sec)
		return
	}
	k := c.StashLen()
	n, err := reactor.Read(int(c.fd), s.readBuf[k:])
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
	c.TakeStash(s.readBuf)
	s.input(c, s.readBuf[:k+n])
}

// input runs c's state machine on data and applies what it changed.
func (s *Shard) input(c *Conn, data []byte) {
	s.cur = c
	c.Input(data, s)
	s.cur = nil
	s.after(c)
}

// after applies what the state machine changed: paused reading, output
// to write, a close under way.
func (s *Shard) after(c *Conn) {
	if c.Closed() {
		return
	}
	if c.Paused() && c.interest&reactor.Readable != 0 {
		s.stats.pausedReads.Add(1)
		s.setInterest(c, c.interest&^reactor.Readable)
	}
	if c.HasOutput() {
		s.markDirty(c)
	}
	if !c.timer.Scheduled() {
		// The handshake just completed: the open conn's deadlines start.
		s.rearm(c)
	}
	if c.ClosePending() && !c.barrier {
		// Input ended the conversation. Our close frame must follow the
		// handler's answers to the messages before it: a barrier behind
		// them in the mailbox releases it (see Barrier).
		c.barrier = true
		if c.opened {
			s.disp.Push(&c.Box, mailbox.NewMail(mailbox.Barrier))
		} else {
			c.SendClose()
		}
	}
	if c.CloseSent() {
		c.ending.Store(true)
	}
	if c.State() >= conn.StateClosing && c.closeAt == 0 {
		c.closeAt = s.deadline(s.cfg.CloseTimeout)
		s.rearm(c)
	}
	s.watchInput(c)
	s.drainDone(c)
}

// drainDone ends a draining conn whose output is all written. After a
// complete close handshake the peer sends nothing more, so the socket is
// closed at once: "the server SHOULD close the underlying TCP connection
// first" (RFC 6455 §7.1.1). Otherwise (a failed connection, a refused
// handshake) the close is lingering: FIN after the last byte, then wait
// for the peer's FIN or the close deadline, so that closing does not
// reset a connection whose peer has not read our last bytes yet.
func (s *Shard) drainDone(c *Conn) {
	if c.State() != conn.StateDraining || c.HasOutput() || c.writeShut || c.ClosePending() {
		return
	}
	if sec := s.secureOf(c); sec != nil && !s.tlsDrained(c, sec) {
		return
	}
	if c.CloseComplete() {
		s.finish(c, nil)
		return
	}
	c.writeShut = true
	reactor.ShutdownWrite(int(c.fd))
}

// resume continues a paused conn once the reasons in why are gone; it
// stays paused while another reason holds.
func (s *Shard) resume(c *Conn, why pauses) {
	c.pauses &^= why
	if c.Closed() || !c.Paused() || c.pauses != 0 {
		return
	}
	s.cur = c
	c.Resume(s)
	s.cur = nil
	if c.Paused() || c.Closed() {
		s.after(c)
		return
	}
	if c.detached {
		// It hung up while paused: what it sent is delivered, so end it.
		s.finish(c, conn.ErrPeerGone)
		return
	}
	s.setInterest(c, c.interest|reactor.Readable)
	s.after(c)
}

func (s *Shard) setInterest(c *Conn, ev reactor.Events) {
	if ev == c.interest || c.detached {
		return
	}
	if err := s.poller.Modify(int(c.fd), ev); err == nil {
		c.interest = ev
	}
}

func (s *Shard) markDirty(c *Conn) {
	if !c.dirty {
		c.dirty = true
		s.dirty = append(s.dirty, c)
	}
}

func (s *Shard) flushDirty() {
	s.unflushed = 0
	for i, c := range s.dirty {
		s.dirty[i] = nil
		c.dirty = false
		if !c.Closed() {
			s.flush(c)
		}
	}
	s.dirty = s.dirty[:0]
}

// flush writes c's queue with as few writev calls as the kernel allows;
// what it will not take now waits for EPOLLOUT.
func (s *Shard) flush(c *Conn) {
	var written int
	if sec := s.secureOf(c); sec != nil {
		written = s.writeTLS(c, sec)
	} else {
		written = s.writePlain(c)
	}
	if c.Closed() {
		return
	}
	s.account(c)
	s.watchOutput(c, written)
	if c.pauses&pauseOutbound != 0 && c.Queued() <= s.cfg.Conn.MaxOutboundBytes()/2 {
		// The peer read its answers: let it send again, once this pass's
		// writes are done (resuming runs handlers, which queue more).
		s.resumes = append(s.resumes, c)
	}
	ev := c.interest &^ reactor.Writable
	if s.hasOutput(c) {
		ev |= reactor.Writable
	}
	s.setInterest(c, ev)
	s.drainDone(c)
}

// writePlain writes c's queue and returns how many bytes the kernel took.
func (s *Shard) writePlain(c *Conn) int {
	written := 0
	for c.HasOutput() {
		c.Gather(&s.vec)
		want := s.vec.Len()
		n, err := s.vec.Writev(int(c.fd))
		s.vec.Reset()
		if err != nil {
			if !reactor.IsAgain(err) {
				s.finish(c, conn.ErrPeerGone)
			}
			break
		}
		c.Written(n)
		written += n
		s.stats.bytesOut.Add(uint64(n))
		if n < want {
			break
		}
	}
	return written
}

// finish closes c's socket and ends it: buffers released, stats counted,
// the Close mail pushed if an Open was.
func (s *Shard) finish(c *Conn, err error) {
	if c.Closed() {
		return
	}
	fd := int(c.fd)
	if !c.detached {
		s.poller.Remove(fd)
	}
	reactor.Close(fd)
	s.conns.set(fd, nil)
	s.dropTLS(c)
	s.wheel.Stop(&c.timer)
	s.unsubscribeAll(c)
	c.ending.Store(true)
	c.SetClosed(err)
	s.stats.open.Add(-1)
	s.stats.queued.Add(-c.counted)
	c.counted = 0
	s.stats.countClose(c.Err())
	if c.opened {
		m := mailbox.NewMail(mailbox.Close)
		m.Err = c.Err()
		s.disp.Push(&c.Box, m)
	}
}

// account brings the shard's queued-bytes stat up to date for c.
func (s *Shard) account(c *Conn) {
	if d := c.Queued() - c.counted; d != 0 {
		c.counted += d
		s.stats.queued.Add(d)
	}
}

// shutdown stops accepting and starts closing every connection.
func (s *Shard) shutdown() {
	if s.shutting {
		return
	}
	s.shutting = true
	s.closeListeners()
	s.conns.each(func(c *Conn) {
		if c.State() == conn.StateHandshake {
			s.finish(c, conn.ErrClosed)
			return
		}
		if c.Close(codec.StatusGoingAway, errShutdown) == nil {
			s.after(c)
		}
	})
}

func (s *Shard) forceAll() {
	s.shutting = true
	s.closeListeners()
	s.conns.each(func(c *Conn) { s.finish(c, ErrCloseTimeout) })
}

// Upgrade is part of conn.Sink.
func (s *Shard) Upgrade(_ *conn.Conn, req *codec.Request) (string, []byte, error) {
	c := s.cur
	var protocol string
	var fields []byte
	if s.hooks.Upgrade != nil {
		var err error
		if protocol, fields, err = s.hooks.Upgrade(c, req); err != nil {
			s.stats.handshakeErrors.Add(1)
			s.unsubscribeAll(c)
			return "", fields, err
		}
	}
	s.stats.handshakes.Add(1)
	c.closeAt = 0
	s.opened(c)
	s.rearm(c)
	return protocol, fields, nil
}

// Message is part of conn.Sink: the message goes to the conn's mailbox.
// Reading pauses when the mailbox is full (the handler must catch up) or
// when the outbound queue holds its limit (the peer must read its
// answers first): a peer that sends and never reads holds its limits'
// worth of memory, not more, and an inline handler's answers are never
// refused for lack of room while the peer keeps up.
func (s *Shard) Message(_ *conn.Conn, op codec.Opcode, data []byte, buf *bufpool.Buf) bool {
	c := s.cur
	s.stats.msgsIn.Add(1)
	m := mailbox.NewMail(mailbox.Message)
	m.Op, m.Data, m.Buf = op, data, buf
	if s.disp.Push(&c.Box, m) {
		c.pauses |= pauseMailbox
	}
	if c.OutboundFull() {
		c.pauses |= pauseOutbound
		s.stats.outboundPauses.Add(1)
	}
	return c.pauses == 0
}
