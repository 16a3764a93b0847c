package shard

import (
	"unsafe"

	"github.com/shoalws/shoal/internal/timewheel"
	"github.com/shoalws/shoal/mailbox"
)

// A connection's timer and mailbox are embedded in it, and each finds the
// connection from its own address rather than keep a pointer back to it:
// two pointers fewer, 16 bytes, in every connection (see DESIGN.md,
// "Memory per connection"). The offsets are constants of the Conn type.

// timer is a connection's timer; its value type is empty, since the
// connection is found by connOfTimer.
type timer = timewheel.Timer[struct{}]

var (
	timerOffset = unsafe.Offsetof(Conn{}.timer)
	boxOffset   = unsafe.Offsetof(Conn{}.Box)
)

// connOfTimer returns the Conn whose timer t is. t must be the timer of a
// Conn: the shard's wheel holds no other.
func connOfTimer(t *timer) *Conn {
	return (*Conn)(unsafe.Add(unsafe.Pointer(t), -timerOffset))
}

// OwnerOf returns the Conn whose mailbox mb is: the mailbox.Hooks.Owner
// of a dispatcher whose boxes are all Conns'.
func OwnerOf(mb *mailbox.Mailbox[*Conn]) *Conn {
	return (*Conn)(unsafe.Add(unsafe.Pointer(mb), -boxOffset))
}
