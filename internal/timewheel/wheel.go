// Package timewheel is a hashed timing wheel that drives the per-connection
// deadlines of one reactor shard: handshake deadline, idle timeout, automatic
// ping and pong wait, close-handshake deadline.
//
// A shard may own 100k+ connections whose timers are re-armed on almost every
// read, so Schedule and Stop are O(1) and allocation-free, and a Timer is
// embedded by value in the connection instead of living in a heap.
//
// The wheel never reads a clock: every method that needs the time takes it as
// int64 nanoseconds on whatever monotonic clock the caller picked (the shard
// uses time.Since of its start). That keeps the wheel deterministic in tests.
//
// A Wheel and its Timers are not safe for concurrent use: one goroutine (the
// shard's) owns a wheel and every timer armed on it.
package timewheel

import (
	"math"
	"math/bits"
	"time"
)

// Timer is one deadline, embedded by value in whatever it times. The zero
// value is unscheduled. A Timer must not be copied while it is scheduled (the
// wheel links to its address) and must only ever be scheduled on one wheel.
type Timer[T any] struct {
	// Value says what the timer is for; the shard stores its *conn here so
	// the fire callback can find the connection without a map lookup.
	Value T

	// next and prev link the timer into a circular list headed by a
	// sentinel; next != nil is the "scheduled" flag, which saves a field.
	next, prev *Timer[T]
	// tick is the absolute tick at which the timer is due. Storing it
	// instead of a rounds counter means a slot scan only reads timers that
	// are not due, never writes them.
	tick int64
}

// Scheduled reports whether t is armed, that is, it will fire unless stopped.
// It stays true for a due timer until just before its fire call.
func (t *Timer[T]) Scheduled() bool { return t.next != nil }

// Wheel is a hashed timing wheel. Use New to create one; a Wheel must not be
// copied, because its list sentinels are linked by address.
type Wheel[T any] struct {
	// slots are the list sentinels; the slice is allocated once in New so
	// their addresses stay fixed.
	slots []Timer[T]
	mask  int64

	tick   int64 // tick length in ns
	origin int64 // time of tick 0, the now given to New
	// cur is the last tick Advance processed. Every timer in a slot is due
	// after cur; every timer due at or before cur is in due or firing.
	cur int64
	n   int

	// due holds timers scheduled at or before cur. They fire at the start
	// of the next Advance, so "in the past" never means "lost", and a
	// timer re-armed into the past from fire cannot spin one Advance
	// forever.
	due Timer[T]
	// firing holds the timers Advance is about to fire. Moving them here
	// first lets fire Stop or re-Schedule any of them safely: they are
	// ordinary list members until popped.
	firing Timer[T]
}

// New returns a wheel whose deadlines have a granularity of tick, with slots
// list heads (rounded up to a power of two, at least 1), starting at time now
// (ns). One rotation, tick*slots, should cover the common timeouts: timers
// further out still work but are skipped over on each earlier rotation.
// New panics if tick is not positive.
func New[T any](tick time.Duration, slots int, now int64) *Wheel[T] {
	if tick <= 0 {
		panic("timewheel: tick must be positive")
	}
	size := 1
	if slots > 1 {
		size = 1 << bits.Len(uint(slots-1))
	}
	w := &Wheel[T]{
		slots:  make([]Timer[T], size),
		mask:   int64(size - 1),
		tick:   int64(tick),
		origin: now,
	}
	for i := range w.slots {
		initList(&w.slots[i])
	}
	initList(&w.due)
	initList(&w.firing)
	return w
}

// Schedule arms t to fire at time at (ns), moving it if it is already armed.
// The deadline is rounded up to a tick boundary, so a timer never fires early;
// a deadline at or before the last Advance fires on the next Advance.
// Re-arming within the same tick keeps t's place, which makes the per-read
// idle re-arm nearly free.
func (w *Wheel[T]) Schedule(t *Timer[T], at int64) {
	d := max(w.ceilTick(at), w.cur)
	if t.next != nil {
		if t.tick == d {
			return
		}
		unlink(t)
	} else {
		w.n++
	}
	t.tick = d
	if d <= w.cur {
		pushBack(&w.due, t)
	} else {
		pushBack(&w.slots[d&w.mask], t)
	}
}

// Stop disarms t so it will not fire. It is a no-op if t is not armed.
func (w *Wheel[T]) Stop(t *Timer[T]) {
	if t.next == nil {
		return
	}
	unlink(t)
	w.n--
}

// Len returns the number of armed timers.
func (w *Wheel[T]) Len() int { return w.n }

// Next returns how long from now until the wheel next needs Advance: zero if
// timers are already due or now is past the current tick, otherwise the time
// to the end of the current tick. It returns false when no timer is armed, so
// the shard can block in epoll_wait without a timeout.
func (w *Wheel[T]) Next(now int64) (time.Duration, bool) {
	if w.n == 0 {
		return 0, false
	}
	if w.due.next != &w.due {
		return 0, true
	}
	end := w.origin + (w.cur+1)*w.tick
	if end <= now {
		return 0, true
	}
	return time.Duration(end - now), true
}

// Advance moves the wheel to now and calls fire for every timer due by then,
// disarming each just before its call. Timers scheduled in the past fire
// first, then the rest in tick order, and in scheduling order within a tick.
//
// fire may Schedule or Stop any timer, including the one it was given and
// others due in this Advance: a stopped timer does not fire, and one moved
// into the past fires in this Advance or the next (Next then returns zero).
// fire must not call Advance.
//
// A jump of more than one rotation costs one pass over all slots plus sorting
// the due timers, not one step per elapsed tick.
func (w *Wheel[T]) Advance(now int64, fire func(*Timer[T])) {
	// Taking only what is due now (not what fire adds) bounds the work.
	splice(&w.firing, &w.due)
	w.fireAll(fire)

	target := w.floorTick(now)
	if target <= w.cur {
		return
	}
	if target-w.cur > int64(len(w.slots)) {
		w.jump(target, fire)
		return
	}
	for w.cur < target {
		if w.n == 0 {
			w.cur = target
			return
		}
		w.cur++
		w.collect(w.cur)
		w.fireAll(fire)
	}
}

// collect moves the timers due exactly at tick from its slot to firing. The
// invariant that slot timers are due after cur means nothing in the slot is
// due earlier, and list order keeps scheduling order within the tick.
func (w *Wheel[T]) collect(tick int64) {
	s := &w.slots[tick&w.mask]
	for t := s.next; t != s; {
		next := t.next
		if t.tick == tick {
			unlink(t)
			pushBack(&w.firing, t)
		}
		t = next
	}
}

// jump advances straight to target by scanning every slot once. Due timers
// come out grouped by slot rather than by tick, so they are sorted before
// firing to keep the tick order a step-by-step Advance would give.
func (w *Wheel[T]) jump(target int64, fire func(*Timer[T])) {
	w.cur = target
	// Build a nil-terminated singly linked list through next; no callback
	// runs until the timers are back in a proper list, so this is safe.
	var head, tail *Timer[T]
	for i := range w.slots {
		s := &w.slots[i]
		for t := s.next; t != s; {
			next := t.next
			if t.tick <= target {
				unlink(t)
				if tail == nil {
					head = t
				} else {
					tail.next = t
				}
				tail = t
			}
			t = next
		}
	}
	if tail == nil {
		return
	}
	tail.next = nil
	for t := sortByTick(head); t != nil; {
		next := t.next
		pushBack(&w.firing, t)
		t = next
	}
	w.fireAll(fire)
}

// fireAll pops timers off firing one at a time rather than walking the list,
// because fire may unlink any of the remaining ones.
func (w *Wheel[T]) fireAll(fire func(*Timer[T])) {
	for {
		t := w.firing.next
		if t == &w.firing {
			return
		}
		unlink(t)
		w.n--
		fire(t)
	}
}

// ceilTick returns the first tick whose start is at or after at, saturating
// instead of overflowing for far-future deadlines.
func (w *Wheel[T]) ceilTick(at int64) int64 {
	if at <= w.origin {
		return 0
	}
	delta := at - w.origin
	if delta < 0 { // wrapped: treat as "never" rather than the past
		delta = math.MaxInt64
	}
	return (delta-1)/w.tick + 1
}

// floorTick returns the tick that contains now.
func (w *Wheel[T]) floorTick(now int64) int64 {
	if now <= w.origin {
		return 0
	}
	delta := now - w.origin
	if delta < 0 {
		delta = math.MaxInt64
	}
	return delta / w.tick
}

func initList[T any](head *Timer[T]) {
	head.next = head
	head.prev = head
}

func pushBack[T any](head, t *Timer[T]) {
	t.prev = head.prev
	t.next = head
	head.prev.next = t
	head.prev = t
}

// unlink clears the links because a nil next is what marks t as unarmed.
func unlink[T any](t *Timer[T]) {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.next = nil
	t.prev = nil
}

// splice moves every timer of src to the end of dst in O(1).
func splice[T any](dst, src *Timer[T]) {
	if src.next == src {
		return
	}
	first, last := src.next, src.prev
	first.prev = dst.prev
	dst.prev.next = first
	last.next = dst
	dst.prev = last
	initList(src)
}

// sortByTick stably sorts a nil-terminated list linked through next by tick,
// bottom-up so it needs neither recursion nor memory (prev is ignored and
// rebuilt by the caller). Stability keeps scheduling order within a tick.
func sortByTick[T any](head *Timer[T]) *Timer[T] {
	for width := 1; ; width *= 2 {
		var out, tail *Timer[T]
		merges := 0
		for p := head; p != nil; {
			merges++
			q, pn := p, 0
			for pn < width && q != nil {
				q = q.next
				pn++
			}
			qn := width
			for pn > 0 || (qn > 0 && q != nil) {
				var e *Timer[T]
				if pn > 0 && (qn == 0 || q == nil || p.tick <= q.tick) {
					e, p = p, p.next
					pn--
				} else {
					e, q = q, q.next
					qn--
				}
				if tail == nil {
					out = e
				} else {
					tail.next = e
				}
				tail = e
			}
			p = q
		}
		tail.next = nil
		if merges <= 1 {
			return out
		}
		head = out
	}
}
