// Package bufpool lends byte buffers in size classes and counts their
// references, so that one encoded broadcast frame can sit in thousands of
// connection queues and return to its pool when the last one has written
// it, and so that idle connections hold no buffers at all.
package bufpool

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Buf is a pooled buffer with a reference count. B's capacity is the size
// class; its length is the caller's business. Ref, Release and Refs are
// safe from any goroutine; B is written only while one holder has it
// alone, before it is shared.
type Buf struct {
	B     []byte
	refs  atomic.Int32
	class int8 // index into pools; -1: not pooled, left to the GC
}

const (
	minShift = 8  // smallest class: 256 B
	maxShift = 22 // largest class: 4 MiB
)

var pools [maxShift - minShift + 1]sync.Pool

// classOf returns the pool index whose buffers hold n bytes, or -1 when n
// is over the largest class.
func classOf(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxShift {
		return -1
	}
	return shift - minShift
}

// Get returns an empty buffer whose capacity is at least n, holding one
// reference.
func Get(n int) *Buf {
	c := classOf(n)
	if c < 0 {
		b := &Buf{B: make([]byte, 0, n), class: -1}
		b.refs.Store(1)
		return b
	}
	if v := pools[c].Get(); v != nil {
		b := v.(*Buf)
		b.refs.Store(1)
		return b
	}
	b := &Buf{B: make([]byte, 0, 1<<(c+minShift)), class: int8(c)}
	b.refs.Store(1)
	return b
}

// Ref adds a reference: one more holder will call Release.
func (b *Buf) Ref() { b.refs.Add(1) }

// Refs reports the current number of references, for tests and stats.
func (b *Buf) Refs() int32 { return b.refs.Load() }

// Release drops a reference; the last one returns b to its pool. b must
// not be used after its holder has released it.
func (b *Buf) Release() {
	switch n := b.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("bufpool: Release of a buffer with no references")
	}
	if b.class < 0 {
		return
	}
	b.B = b.B[:0]
	pools[b.class].Put(b)
}

// Grow returns a buffer holding b's bytes with room for n more: b itself
// if it has the room, else a larger pooled buffer, releasing b. b must
// hold the only reference.
func Grow(b *Buf, n int) *Buf {
	if b == nil {
		return Get(n)
	}
	if cap(b.B)-len(b.B) >= n {
		return b
	}
	want := max(len(b.B)+n, 2*cap(b.B))
	nb := Get(want)
	nb.B = append(nb.B, b.B...)
	b.Release()
	return nb
}
