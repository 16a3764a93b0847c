package shard

import (
	"net/netip"
	"sync/atomic"

	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/mailbox"
	"github.com/shoalws/shoal/reactor"
)

// Conn is one connection as its shard sees it: the protocol state, the
// mailbox, the timer and the socket, in one allocation. The public API
// embeds it and reaches it through methods that post to the shard. Its
// state belongs to the shard thread; ID, RemoteAddr, Shard and Ending,
// and conn.Conn's Admit, Unadmit and Queued, are safe from any goroutine.
type Conn struct {
	// Every connection pays for each byte here (see DESIGN.md, "Memory
	// per connection"): word-sized fields first, then the small ones
	// packed together.

	// owned by the shard thread, except what conn.Conn says
	conn.Conn
	Box mailbox.Mailbox[*Conn]

	// immutable after registration
	id uint64

	// owned by the shard thread
	timer   timer
	counted int64           // this conn's share of the shard's queued-bytes stat
	subs    *[]subscription // see subList

	// Times on the shard clock, 4 bytes each (see stamp); 0: none.
	lastRead stamp // the last input
	pingAt   stamp // our unanswered ping was sent
	closeAt  stamp // deadline of the handshake, the close handshake or the drain
	heldAt   stamp // the peer began a message or frame it has not finished
	stallAt  stamp // output waiting and the last write progress

	remote addrPort // immutable after registration
	fd     int32    // immutable after registration

	interest  reactor.Events
	ending    atomic.Bool // closing or closed: Send fails fast; any goroutine
	dirty     bool        // in the shard's list of conns to flush
	writeShut bool        // shutdown(SHUT_WR) done
	detached  bool        // hung up while paused: out of epoll until resumed
	barrier   bool        // a barrier mail was pushed for the pending close
	opened    bool        // the Open mail was pushed: a Close mail is owed
	pauses    pauses      // why input is held back, while conn.Conn is paused
}

// pauses are the reasons a connection's input waits; it resumes when
// none is left.
type pauses uint8

const (
	// pauseMailbox: its mailbox is full; the handler must catch up.
	pauseMailbox pauses = 1 << iota
	// pauseOutbound: its outbound queue holds its limit; the peer must
	// read its answers before it may send more.
	pauseOutbound
)

// ID is unique among the connections of a process.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote.get() }

// addrPort is a netip.AddrPort in 19 bytes instead of 32, without the
// IPv6 zone (a socket's peer on a link-local address is the only one
// that has it): paid by every connection, so worth the packing.
type addrPort struct {
	ip   [16]byte
	port uint16
	is4  bool
}

func makeAddrPort(ap netip.AddrPort) addrPort {
	a := ap.Addr()
	return addrPort{ip: a.As16(), port: ap.Port(), is4: a.Is4()}
}

func (a addrPort) get() netip.AddrPort {
	if a.is4 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.ip[12:])), a.port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a.ip), a.port)
}

// Shard returns the owning shard.
func (c *Conn) Shard() *Shard { return c.Config().Owner.(*Shard) }

// Ending reports whether the connection is closing or closed. Safe from
// any goroutine.
func (c *Conn) Ending() bool { return c.ending.Load() }
