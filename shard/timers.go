package shard

import (
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
)

// Each connection has one timer, armed for the earliest of its deadlines.
// Reads do not re-arm it: they only move lastRead, and when the timer
// fires it recomputes, so a busy connection costs nothing per read. A
// message left unfinished or output left unwritten re-arms it once, when
// the wait begins, not on every read or write.

// onTimer runs for a connection whose earliest deadline may have come.
func (s *Shard) onTimer(t *timer) {
	c := connOfTimer(t)
	if c.Closed() {
		return
	}
	switch {
	case c.closeAt != 0 && s.since(c.closeAt) >= 0:
		if c.State() == conn.StateHandshake {
			s.stats.handshakeErrors.Add(1)
			s.finish(c, ErrHandshakeTimeout)
		} else {
			s.finish(c, ErrCloseTimeout)
		}
		return
	case c.stallAt != 0 && s.cfg.WriteTimeout > 0 && s.since(c.stallAt) >= s.cfg.WriteTimeout:
		// Its output has not moved for the whole timeout: the peer is
		// gone or does not read, and a close frame could not reach it.
		s.stats.writeTimeouts.Add(1)
		s.finish(c, ErrWriteTimeout)
		return
	case c.State() != conn.StateOpen:
	case c.heldAt != 0 && s.cfg.MessageTimeout > 0 && s.since(c.heldAt) >= s.cfg.MessageTimeout:
		s.stats.messageTimeouts.Add(1)
		c.Fail(ErrMessageTimeout)
		s.after(c)
	case s.cfg.IdleTimeout > 0 && s.since(c.lastRead) >= s.cfg.IdleTimeout:
		if c.Close(codec.StatusGoingAway, errIdle) == nil {
			s.after(c)
		}
	case c.pingAt != 0 && s.since(c.pingAt) >= s.cfg.PongTimeout:
		s.finish(c, ErrPongTimeout)
		return
	case s.cfg.PingInterval > 0 && c.pingAt == 0 && s.since(c.lastRead) >= s.cfg.PingInterval:
		c.Ping(nil)
		c.pingAt = s.stampNow()
		s.markDirty(c)
	}
	s.rearm(c)
}

// rearm schedules c's timer for its earliest deadline, or stops it.
func (s *Shard) rearm(c *Conn) {
	next := int64(-1)
	earliest := func(t stamp, d time.Duration) {
		if at := s.wheelTime(t, d); next < 0 || at < next {
			next = at
		}
	}
	if c.closeAt != 0 {
		earliest(c.closeAt, 0)
	}
	if c.stallAt != 0 && s.cfg.WriteTimeout > 0 {
		earliest(c.stallAt, s.cfg.WriteTimeout)
	}
	if c.State() == conn.StateOpen {
		if c.heldAt != 0 && s.cfg.MessageTimeout > 0 {
			earliest(c.heldAt, s.cfg.MessageTimeout)
		}
		if s.cfg.IdleTimeout > 0 {
			earliest(c.lastRead, s.cfg.IdleTimeout)
		}
		if c.pingAt != 0 {
			earliest(c.pingAt, s.cfg.PongTimeout)
		} else if s.cfg.PingInterval > 0 {
			earliest(c.lastRead, s.cfg.PingInterval)
		}
	}
	if next < 0 {
		s.wheel.Stop(&c.timer)
		return
	}
	s.wheel.Schedule(&c.timer, next)
}

// watchInput starts or ends the wait for a message the peer began and has
// not finished, after its input was processed.
func (s *Shard) watchInput(c *Conn) {
	if !c.InputPending() {
		c.heldAt = 0
		return
	}
	if c.heldAt == 0 && s.cfg.MessageTimeout > 0 {
		c.heldAt = s.stampNow()
		s.rearm(c)
	}
}

// watchOutput starts, moves or ends the write-stall wait after a flush
// that wrote n bytes.
func (s *Shard) watchOutput(c *Conn, n int) {
	if !s.hasOutput(c) {
		c.stallAt = 0
		return
	}
	if c.stallAt == 0 || n > 0 {
		first := c.stallAt == 0
		c.stallAt = s.stampNow()
		if first && s.cfg.WriteTimeout > 0 {
			s.rearm(c)
		}
	}
}
