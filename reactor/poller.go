package reactor

import (
	"errors"
	"time"
)

// Events is a set of readiness conditions.
type Events uint32

// Readiness conditions. HangUp and Error are always reported; they need
// not be asked for.
const (
	Readable Events = 1 << iota
	Writable
	HangUp // the peer closed or reset the connection
	Error
)

// ErrClosed is returned by calls on a Poller after Close.
var ErrClosed = errors.New("reactor: poller closed")

// Loop is what a Poller's Run drives, always from the same locked thread.
type Loop interface {
	// Ready handles readiness of one registered fd.
	Ready(fd int, ev Events)
	// Flush runs after each batch of events and wake-ups: the place to
	// drain work posted by other goroutines, write what was queued and
	// fire timers. It returns how long the next wait may block (negative:
	// until an event or a Wake) and whether Run should return.
	Flush() (timeout time.Duration, stop bool)
	// Pending reports whether work was posted since the last Flush. Run
	// asks after announcing that it is about to sleep, so that a post
	// racing with the sleep is never left waiting for an unrelated event.
	Pending() bool
}

// waitMillis converts a timeout to the milliseconds epoll_wait and poll take, rounding up
// so that a timer due in 0.3 ms is not busy-polled.
func waitMillis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > 1<<30 {
		ms = 1 << 30
	}
	return int(ms)
}
