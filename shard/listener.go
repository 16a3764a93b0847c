package shard

import (
	"sync/atomic"

	"github.com/shoalws/shoal/reactor"
)

// Listener is a listening socket shards accept from: either one shard's
// own (one SO_REUSEPORT socket per shard, the kernel spreading
// connections over them), or one socket shared by every shard of a
// server, each shard's epoll watching it with EPOLLEXCLUSIVE so that a
// pending connection wakes one shard, which accepts it on its own thread.
// The shared socket is what keeps a port exclusive: no SO_REUSEPORT, so
// no other socket can join it.
type Listener struct {
	fd     int
	shared bool
	holds  atomic.Int32 // shards that have it or will; the last closes fd
}

// NewListener wraps a listening socket that holders shards will each be
// given (Shard.Listen) and let go of.
func NewListener(fd, holders int) *Listener {
	l := &Listener{fd: fd, shared: holders > 1}
	l.holds.Store(int32(holders))
	return l
}

func (l *Listener) watch(p *reactor.Poller) error {
	if l.shared {
		return p.AddShared(l.fd)
	}
	return p.Add(l.fd, reactor.Readable)
}

// unwatch stops accepting for a while (out of file descriptors). An
// EPOLLEXCLUSIVE registration cannot be modified, only removed.
func (l *Listener) unwatch(p *reactor.Poller) {
	if l.shared {
		p.Remove(l.fd)
		return
	}
	p.Modify(l.fd, 0)
}

// release lets go of one hold; the last closes the socket, once no shard
// watches it any more.
func (l *Listener) release() {
	if l.holds.Add(-1) == 0 {
		reactor.Close(l.fd)
	}
}
