package shard

import (
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/timewheel"
)

// Each connection has one timer, armed for the earliest of its deadlines.
// Reads do not re-arm it: they only move lastRead, and when the timer
// fires it recomputes, so a busy connection costs nothing per read.

// onTimer runs for a connection whose earliest deadline may have come.
func (s *Shard) onTimer(t *timewheel.Timer[*Conn]) {
	c := t.Value
	if c.Closed() {
		return
	}
	now := s.now
	switch {
	case c.closeAt != 0 && now >= c.closeAt:
		if c.State() == conn.StateHandshake {
			s.stats.handshakeErrors.Add(1)
			s.finish(c, ErrHandshakeTimeout)
		} else {
			s.finish(c, ErrCloseTimeout)
		}
		return
	case c.State() != conn.StateOpen:
	case s.cfg.IdleTimeout > 0 && now-c.lastRead >= int64(s.cfg.IdleTimeout):
		if c.Close(codec.StatusGoingAway, errIdle) == nil {
			s.after(c)
		}
	case c.pingAt != 0 && now-c.pingAt >= int64(s.cfg.PongTimeout):
		s.finish(c, ErrPongTimeout)
		return
	case s.cfg.PingInterval > 0 && c.pingAt == 0 && now-c.lastRead >= int64(s.cfg.PingInterval):
		c.Ping(nil)
		c.pingAt = now
		s.markDirty(c)
	}
	s.rearm(c)
}

// rearm schedules c's timer for its earliest deadline, or stops it.
func (s *Shard) rearm(c *Conn) {
	next := int64(-1)
	earliest := func(t int64) {
		if next < 0 || t < next {
			next = t
		}
	}
	if c.closeAt != 0 {
		earliest(c.closeAt)
	}
	if c.State() == conn.StateOpen {
		if s.cfg.IdleTimeout > 0 {
			earliest(c.lastRead + int64(s.cfg.IdleTimeout))
		}
		if c.pingAt != 0 {
			earliest(c.pingAt + int64(s.cfg.PongTimeout))
		} else if s.cfg.PingInterval > 0 {
			earliest(c.lastRead + int64(s.cfg.PingInterval))
		}
	}
	if next < 0 {
		s.wheel.Stop(&c.timer)
		return
	}
	s.wheel.Schedule(&c.timer, next)
}
