// Package mailbox turns each connection into an actor: a bounded inbox
// whose mail reaches the handler in order, one at a time, on a bounded
// pool of worker goroutines (ants), without ever blocking the shard that
// fills it.
//
// The first mail into an idle mailbox submits one drain task; the task
// delivers mail until the box is empty and then lets it go idle. When the
// pool is full the box stays runnable and the owner is told to retry, so
// nothing is lost and the shard never waits. When a box holds its limit
// of messages, Push reports it full and the owner stops reading the
// connection; Resume is called once the box drains to half, and TCP flow
// control slows the peer meanwhile. A box is full at its limit of
// messages or of bytes, whichever comes first: the bytes are what the
// waiting messages hold in memory (see Cost), so a peer sending large
// messages to a slow handler holds at most the byte limit plus one
// message. A panicking handler is recovered: the
// owner is told (to close the connection with 1011), the rest of that
// connection's messages are discarded and its close mail still arrives.
//
// A Dispatcher without a pool delivers inline on the pushing goroutine:
// no hand-off at all, for handlers that never block.
package mailbox

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// Kind says what a Mail is.
type Kind uint8

// Kinds of mail. A connection's box receives one Open, then messages,
// then one Close. A Barrier may come between: it tells the owner that
// every mail before it has been delivered.
const (
	Open Kind = iota
	Message
	Close
	Barrier
)

// Mail is one item in a mailbox.
type Mail struct {
	Kind Kind
	Op   codec.Opcode // Message: text or binary
	Data []byte       // Message: payload, valid until delivery returns
	Buf  *bufpool.Buf // holds Data when non-nil; released after delivery
	Err  error        // Close: why the connection ended
	next *Mail
}

var mails = sync.Pool{New: func() any { return new(Mail) }}

// NewMail returns a Mail from a pool; Push takes it over.
func NewMail(k Kind) *Mail {
	m := mails.Get().(*Mail)
	m.Kind = k
	return m
}

func freeMail(m *Mail) {
	if m.Buf != nil {
		m.Buf.Release()
	}
	*m = Mail{}
	mails.Put(m)
}

// Mailbox is one connection's inbox. Embed it by value; the zero value is
// an empty, idle box.
type Mailbox[T any] struct {
	// Every connection pays for these bytes: the counters are as narrow
	// as their limits allow and the flags share one byte.
	mu         sync.Mutex
	head, tail *Mail
	bytes      uint32 // Cost of the Message mails queued
	messages   uint16 // Message mails queued (Open and Close do not count)
	flags      boxFlags
}

type boxFlags uint8

const (
	scheduled  boxFlags = 1 << iota // a drain task is submitted or running
	pausedRead                      // the owner stopped reading when the box filled
	broken                          // the handler panicked: discard remaining messages
)

func (mb *Mailbox[T]) is(f boxFlags) bool { return mb.flags&f != 0 }

func (mb *Mailbox[T]) set(f boxFlags, on bool) {
	if on {
		mb.flags |= f
	} else {
		mb.flags &^= f
	}
}

// Limits bound what one mailbox holds before Push reports it full.
type Limits struct {
	// Messages waiting; at most MaxMessages. Default 64.
	Messages int
	// Bytes of memory the waiting messages hold (Cost); at most MaxBytes.
	// Default 1 MiB. One message is always taken, whatever its size.
	Bytes int64
}

// Bounds of Limits: the counters are narrow to keep every box small.
const (
	MaxMessages = 1<<15 - 1
	MaxBytes    = 1 << 30
)

// mailSize is the memory of a Mail beyond its buffer, with the buffer's
// header: two whole size classes. A test holds it to the real types.
const mailSize = 64 + 32

// Cost is the memory a Message mail holds while it waits: its buffer's
// capacity, the buffer's header and the mail itself. It is what the byte
// limit counts.
func Cost(m *Mail) int64 {
	if m.Buf == nil {
		return mailSize
	}
	return int64(cap(m.Buf.B)) + mailSize
}

// Hooks are the owner's side of a Dispatcher. Deliver runs on a worker
// (or inline); the others may run on any goroutine and must not block.
type Hooks[T any] struct {
	// Owner returns the owner of a box, handed to every other hook. A box
	// does not keep a pointer back to its owner, which would cost every
	// connection 8 bytes: the owner embeds the box and knows where.
	Owner func(mb *Mailbox[T]) T
	// Deliver hands one mail to the application.
	Deliver func(owner T, m *Mail)
	// Panicked reports that Deliver panicked with v.
	Panicked func(owner T, v any)
	// Resume reports that a box the owner paused on has drained to half.
	Resume func(owner T)
	// Retry reports that a box with mail has no task: the pool was full,
	// or the box gave up its worker for fairness. Call Dispatcher.Retry.
	Retry func(owner T)
}

// Dispatcher schedules mailboxes on a pool, or delivers inline. Push and
// Retry for one box come from its owner, one call at a time (a shard
// thread); the counters, Running and Release are safe from any goroutine.
type Dispatcher[T any] struct {
	pool      *ants.PoolWithFuncGeneric[*Mailbox[T]] // nil: inline
	limit     uint16
	byteLimit uint32
	hooks     Hooks[T]

	waiting   atomic.Int64  // boxes told to retry and not yet scheduled
	overloads atomic.Uint64 // pool-full refusals
	panics    atomic.Uint64
}

// batch is how many mails a task delivers before it gives its worker to
// a box that is waiting for one, if any is.
const batch = 64

// New returns a Dispatcher delivering on an ants pool of the given
// number of workers, each box bounded by limits. workers <= 0 means
// inline delivery on the pushing goroutine.
func New[T any](workers int, limits Limits, hooks Hooks[T]) (*Dispatcher[T], error) {
	msgs, bytes := limits.Messages, limits.Bytes
	if msgs <= 0 {
		msgs = 64
	}
	if bytes <= 0 {
		bytes = 1 << 20
	}
	d := &Dispatcher[T]{limit: uint16(min(msgs, MaxMessages)), byteLimit: uint32(min(bytes, MaxBytes)), hooks: hooks}
	if workers <= 0 {
		return d, nil
	}
	pool, err := ants.NewPoolWithFuncGeneric(workers, d.drain,
		ants.WithNonblocking(true),
		// d.run recovers handler panics itself; this catches the rest.
		ants.WithPanicHandler(func(any) {}))
	if err != nil {
		return nil, err
	}
	d.pool = pool
	return d, nil
}

// Inline reports whether mail is delivered on the pushing goroutine.
func (d *Dispatcher[T]) Inline() bool { return d.pool == nil }

// Overloads counts the times the pool was full when a box needed a task.
func (d *Dispatcher[T]) Overloads() uint64 { return d.overloads.Load() }

// Panics counts recovered handler panics.
func (d *Dispatcher[T]) Panics() uint64 { return d.panics.Load() }

// Push puts m in mb and makes sure a task will deliver it. It never
// blocks on the pool or the handler. It reports whether mb now holds its
// limit of messages or bytes: the owner should stop reading until
// Resume. A
// message whose Data has no Buf is copied, since it outlives the call.
// Open, Close and Barrier mails are never refused and do not count to
// the limit.
func (d *Dispatcher[T]) Push(mb *Mailbox[T], m *Mail) (full bool) {
	if d.pool == nil {
		d.run(mb, m)
		return false
	}
	if m.Kind == Message && m.Buf == nil {
		b := bufpool.Get(len(m.Data))
		b.B = append(b.B, m.Data...)
		m.Buf, m.Data = b, b.B
	}
	mb.mu.Lock()
	if mb.tail == nil {
		mb.head = m
	} else {
		mb.tail.next = m
	}
	mb.tail = m
	if m.Kind == Message {
		mb.messages++
		mb.bytes += uint32(Cost(m))
		if mb.messages >= d.limit || mb.bytes >= d.byteLimit {
			full = true
			mb.set(pausedRead, true)
		}
	}
	start := !mb.is(scheduled)
	mb.set(scheduled, true)
	mb.mu.Unlock()
	if start {
		d.start(mb)
	}
	return full
}

// Retry schedules a box the Retry hook handed out. It reports false if
// the pool is still full: the box stays with the caller, who should keep
// it in its place, ahead of boxes that asked later, and try again (the
// hook is not called again). True means the box needs nothing more.
func (d *Dispatcher[T]) Retry(mb *Mailbox[T]) bool {
	mb.mu.Lock()
	start := !mb.is(scheduled) && mb.head != nil
	if start {
		mb.set(scheduled, true)
	}
	mb.mu.Unlock()
	if start {
		if err := d.pool.Invoke(mb); err != nil {
			d.overloads.Add(1)
			mb.mu.Lock()
			mb.set(scheduled, false)
			mb.mu.Unlock()
			return false
		}
	}
	d.waiting.Add(-1)
	return true
}

func (d *Dispatcher[T]) start(mb *Mailbox[T]) bool {
	if err := d.pool.Invoke(mb); err != nil {
		// ErrPoolOverload (or the pool is closed): the box keeps its mail
		// and becomes runnable again for the owner to retry.
		d.overloads.Add(1)
		d.leave(mb)
		return false
	}
	return true
}

// leave unschedules a box that still has mail and asks for a retry.
func (d *Dispatcher[T]) leave(mb *Mailbox[T]) {
	mb.mu.Lock()
	mb.set(scheduled, false)
	mb.mu.Unlock()
	d.waiting.Add(1)
	d.hooks.Retry(d.hooks.Owner(mb))
}

// drain is the pool task: deliver mail in order until the box is empty.
func (d *Dispatcher[T]) drain(mb *Mailbox[T]) {
	for n := 1; ; n++ {
		m, resume, discard := d.pop(mb)
		if m == nil {
			return
		}
		if resume {
			d.hooks.Resume(d.hooks.Owner(mb))
		}
		if discard && m.Kind == Message {
			freeMail(m)
		} else {
			d.run(mb, m)
		}
		// Under overload, take turns: a busy box gives its worker to one
		// that is waiting rather than holding it indefinitely.
		if n%batch == 0 && d.waiting.Load() > 0 {
			d.yield(mb)
			return
		}
	}
}

// pop takes the next mail, or marks the box idle when it is empty.
func (d *Dispatcher[T]) pop(mb *Mailbox[T]) (m *Mail, resume, discard bool) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	m = mb.head
	if m == nil {
		mb.set(scheduled, false)
		return nil, false, false
	}
	mb.head = m.next
	if mb.head == nil {
		mb.tail = nil
	}
	m.next = nil
	if m.Kind == Message {
		mb.messages--
		mb.bytes -= uint32(Cost(m))
		if mb.is(pausedRead) && mb.messages <= d.limit/2 && mb.bytes <= d.byteLimit/2 {
			mb.set(pausedRead, false)
			resume = true
		}
	}
	return m, resume, mb.is(broken)
}

// yield ends the task early: an empty box goes idle, one with mail joins
// the boxes waiting for a worker.
func (d *Dispatcher[T]) yield(mb *Mailbox[T]) {
	mb.mu.Lock()
	empty := mb.head == nil
	if empty {
		mb.set(scheduled, false)
	}
	mb.mu.Unlock()
	if !empty {
		d.leave(mb)
	}
}

// run delivers one mail, recovering a handler panic.
func (d *Dispatcher[T]) run(mb *Mailbox[T], m *Mail) {
	defer func() {
		if v := recover(); v != nil {
			d.panics.Add(1)
			mb.mu.Lock()
			mb.set(broken, true)
			mb.mu.Unlock()
			d.hooks.Panicked(d.hooks.Owner(mb), v)
		}
		freeMail(m)
	}()
	d.hooks.Deliver(d.hooks.Owner(mb), m)
}

// Release closes the pool and waits up to timeout for running tasks to
// finish; mail still queued is not delivered.
func (d *Dispatcher[T]) Release(timeout time.Duration) error {
	if d.pool == nil {
		return nil
	}
	return d.pool.ReleaseTimeout(timeout)
}

// Running is the number of workers busy now (0 inline).
func (d *Dispatcher[T]) Running() int {
	if d.pool == nil {
		return 0
	}
	return d.pool.Running()
}
