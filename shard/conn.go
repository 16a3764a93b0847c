package shard

import (
	"net/netip"
	"sync/atomic"

	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/timewheel"
	"github.com/shoalws/shoal/mailbox"
	"github.com/shoalws/shoal/reactor"
)

// Conn is one connection as its shard sees it: the protocol state, the
// mailbox, the timer and the socket, in one allocation. The public API
// embeds it and reaches it through methods that post to the shard. Its
// state belongs to the shard thread; ID, RemoteAddr, Shard and Ending,
// and conn.Conn's Admit, Unadmit and Queued, are safe from any goroutine.
type Conn struct {
	// owned by the shard thread, except what conn.Conn says
	conn.Conn
	Box mailbox.Mailbox[*Conn]

	// immutable after registration
	shard  *Shard
	id     uint64
	remote netip.AddrPort
	fd     int32

	// Handle is the API's view of this connection, set by the allocator.
	Handle any

	// owned by the shard thread
	timer     timewheel.Timer[*Conn]
	lastRead  int64 // shard clock (ns) of the last input
	pingAt    int64 // shard clock of the unanswered ping; 0: none
	closeAt   int64 // deadline of the close handshake or drain; 0: none
	interest  reactor.Events
	dirty     bool  // in the shard's list of conns to flush
	writeShut bool  // shutdown(SHUT_WR) done
	detached  bool  // hung up while paused: out of epoll until resumed
	barrier   bool  // a barrier mail was pushed for the pending close
	opened    bool  // the Open mail was pushed: a Close mail is owed
	counted   int64 // this conn's share of the shard's queued-bytes stat
	subs      []subscription

	// shared with other goroutines
	ending atomic.Bool // closing or closed: Send fails fast
}

// ID is unique among the connections of a process.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// Shard returns the owning shard.
func (c *Conn) Shard() *Shard { return c.shard }

// Ending reports whether the connection is closing or closed. Safe from
// any goroutine.
func (c *Conn) Ending() bool { return c.ending.Load() }
