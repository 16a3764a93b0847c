package mailbox

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// owner is a test connection: it records what its mailbox delivers and
// checks that deliveries never overlap.
type owner struct {
	id      int
	box     Mailbox[*owner]
	active  atomic.Int32
	mu      sync.Mutex
	got     []string
	resumes atomic.Int32
	retries atomic.Int32
}

type harness struct {
	t       *testing.T
	d       *Dispatcher[*owner]
	block   chan struct{} // when non-nil, Deliver waits on it
	panicOn string
	panics  atomic.Int32
	retryMu sync.Mutex
	retry   []*owner
}

func newHarness(t *testing.T, workers, limit int) *harness {
	return newHarnessLimits(t, workers, Limits{Messages: limit})
}

func newHarnessLimits(t *testing.T, workers int, limits Limits) *harness {
	h := &harness{t: t}
	d, err := New(workers, limits, Hooks[*owner]{
		Owner: ownerOf,
		Deliver: func(o *owner, m *Mail) {
			if o.active.Add(1) != 1 {
				t.Errorf("owner %d: two deliveries at once", o.id)
			}
			defer o.active.Add(-1)
			if h.block != nil {
				<-h.block
			}
			s := describe(m)
			if s == h.panicOn {
				panic("handler bug")
			}
			o.mu.Lock()
			o.got = append(o.got, s)
			o.mu.Unlock()
		},
		Panicked: func(o *owner, v any) { h.panics.Add(1) },
		Resume:   func(o *owner) { o.resumes.Add(1) },
		Retry: func(o *owner) {
			o.retries.Add(1)
			h.retryMu.Lock()
			h.retry = append(h.retry, o)
			h.retryMu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	t.Cleanup(func() { d.Release(5 * time.Second) })
	return h
}

func describe(m *Mail) string {
	switch m.Kind {
	case Open:
		return "open"
	case Close:
		return "close"
	}
	return string(m.Data)
}

// owners finds a box's owner, as a shard finds the connection around its
// box.
var owners sync.Map // *Mailbox[*owner] -> *owner

func ownerOf(mb *Mailbox[*owner]) *owner {
	o, _ := owners.Load(mb)
	return o.(*owner)
}

func newOwner(id int) *owner {
	o := &owner{id: id}
	owners.Store(&o.box, o)
	return o
}

func msg(s string) *Mail {
	m := NewMail(Message)
	m.Op, m.Data = codec.OpText, []byte(s)
	return m
}

// retryAll plays the shard: it retries boxes the pool had no room for, in
// the order they asked, and stops at the first refusal, keeping that box
// and the rest in their places.
func (h *harness) retryAll() {
	h.retryMu.Lock()
	defer h.retryMu.Unlock()
	i := 0
	for ; i < len(h.retry); i++ {
		if !h.d.Retry(&h.retry[i].box) {
			break
		}
	}
	h.retry = h.retry[i:]
}

func (h *harness) waitFor(cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatal("timed out")
		}
		h.retryAll()
		time.Sleep(time.Millisecond)
	}
}

func (o *owner) snapshot() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// TestOrderPerOwner: many boxes on a small pool each see their mail in
// push order, one at a time, Open first and Close last.
func TestOrderPerOwner(t *testing.T) {
	h := newHarness(t, 4, 1<<20)
	const owners, each = 20, 500
	os := make([]*owner, owners)
	for i := range os {
		os[i] = newOwner(i)
		h.d.Push(&os[i].box, NewMail(Open))
	}
	for j := 0; j < each; j++ {
		for _, o := range os {
			h.d.Push(&o.box, msg(fmt.Sprint(j)))
		}
	}
	for _, o := range os {
		h.d.Push(&o.box, NewMail(Close))
	}
	h.waitFor(func() bool {
		for _, o := range os {
			if len(o.snapshot()) != each+2 {
				return false
			}
		}
		return true
	})
	for _, o := range os {
		got := o.snapshot()
		if got[0] != "open" || got[len(got)-1] != "close" {
			t.Fatalf("owner %d: first %q last %q", o.id, got[0], got[len(got)-1])
		}
		for j := 0; j < each; j++ {
			if got[j+1] != fmt.Sprint(j) {
				t.Fatalf("owner %d: message %d is %q", o.id, j, got[j+1])
			}
		}
	}
}

// TestFullBoxPausesThenResumes: the box reports full at its limit, and
// Resume comes once it drains to half; nothing is dropped.
func TestFullBoxPausesThenResumes(t *testing.T) {
	h := newHarness(t, 2, 4)
	h.block = make(chan struct{})
	o := newOwner(1)
	var full []bool
	for i := 0; i < 5; i++ {
		full = append(full, h.d.Push(&o.box, msg(fmt.Sprint(i))))
	}
	// The first message may already be with the (blocked) handler.
	if !full[4] {
		t.Fatalf("Push results %v: the box never reported full", full)
	}
	if o.resumes.Load() != 0 {
		t.Fatal("resumed while still full")
	}
	close(h.block)
	h.waitFor(func() bool { return len(o.snapshot()) == 5 })
	if o.resumes.Load() != 1 {
		t.Fatalf("Resume called %d times, want 1", o.resumes.Load())
	}
}

// TestFullByBytes: a box is also full once its messages hold the byte
// limit in memory (buffer capacity and bookkeeping), however few they
// are; one message is always taken, whatever its size.
func TestFullByBytes(t *testing.T) {
	if got := unsafe.Sizeof(Mail{}) + unsafe.Sizeof(bufpool.Buf{}); got > mailSize {
		t.Fatalf("a mail and its buffer header are %d bytes, charged as %d", got, mailSize)
	}
	h := newHarnessLimits(t, 2, Limits{Messages: 64, Bytes: 16 << 10})
	h.block = make(chan struct{})
	o := newOwner(1)
	big := strings.Repeat("x", 6<<10) // an 8 KiB buffer each
	var full []bool
	for i := 0; i < 3; i++ {
		full = append(full, h.d.Push(&o.box, msg(big)))
	}
	if full[0] || !full[2] {
		t.Fatalf("Push results %v: want full at the third 6 KiB message (24 KiB held)", full)
	}
	// A message over the whole limit is still taken.
	if !h.d.Push(&newOwner(2).box, msg(strings.Repeat("y", 64<<10))) {
		t.Fatal("a message over the byte limit did not fill its box")
	}
	close(h.block)
	h.waitFor(func() bool { return len(o.snapshot()) == 3 })
	if o.resumes.Load() != 1 {
		t.Fatalf("Resume called %d times, want 1", o.resumes.Load())
	}
	if o.box.bytes != 0 || o.box.messages != 0 {
		t.Fatalf("drained box still counts %d bytes, %d messages", o.box.bytes, o.box.messages)
	}
}

// TestPoolFullLeavesBoxRunnable: with every worker busy, a box is not
// dropped: it waits for a retry and its mail arrives when one succeeds.
func TestPoolFullLeavesBoxRunnable(t *testing.T) {
	h := newHarness(t, 1, 16)
	h.block = make(chan struct{})
	busy, waiting := newOwner(1), newOwner(2)
	h.d.Push(&busy.box, msg("holds the only worker"))
	h.waitFor(func() bool { return h.d.Running() == 1 })
	h.d.Push(&waiting.box, msg("queued behind"))
	if waiting.retries.Load() != 1 || h.d.Overloads() != 1 {
		t.Fatalf("retries %d overloads %d, want 1 and 1", waiting.retries.Load(), h.d.Overloads())
	}
	// Retrying while the pool is still full keeps it runnable, with the
	// retrier, in its place.
	h.retryAll()
	h.retryMu.Lock()
	kept := len(h.retry) == 1 && h.retry[0] == waiting
	h.retryMu.Unlock()
	if !kept || h.d.Overloads() != 2 {
		t.Fatalf("after a failed retry: kept %v, overloads %d", kept, h.d.Overloads())
	}
	close(h.block)
	h.waitFor(func() bool { return len(waiting.snapshot()) == 1 })
}

// TestBusyBoxYieldsUnderOverload: a box with a long backlog gives up its
// worker after a batch when another box waits, so one chatty connection
// cannot starve the rest.
func TestBusyBoxYieldsUnderOverload(t *testing.T) {
	h := newHarness(t, 1, 1<<20)
	gate := make(chan struct{})
	h.block = gate
	chatty, quiet := newOwner(1), newOwner(2)
	for i := 0; i < 10*batch; i++ {
		h.d.Push(&chatty.box, msg("c"))
	}
	h.waitFor(func() bool { return h.d.Running() == 1 })
	h.d.Push(&quiet.box, msg("q"))
	close(gate)
	h.waitFor(func() bool { return len(quiet.snapshot()) == 1 })
	if n := len(chatty.snapshot()); n >= 10*batch {
		t.Fatalf("quiet box waited for all %d of the chatty box's messages", n)
	}
	h.waitFor(func() bool { return len(chatty.snapshot()) == 10*batch })
}

// TestPanicRecovered: a panicking handler is reported once, the box's
// remaining messages are discarded, and its Close still arrives.
func TestPanicRecovered(t *testing.T) {
	h := newHarness(t, 2, 16)
	h.panicOn = "boom"
	o, other := newOwner(1), newOwner(2)
	for _, s := range []string{"a", "boom", "b"} {
		h.d.Push(&o.box, msg(s))
	}
	h.d.Push(&o.box, NewMail(Close))
	h.d.Push(&other.box, msg("unaffected"))
	h.waitFor(func() bool { return len(o.snapshot()) == 2 && len(other.snapshot()) == 1 })
	if got := o.snapshot(); got[0] != "a" || got[1] != "close" {
		t.Fatalf("after the panic got %v, want [a close]", got)
	}
	if h.panics.Load() != 1 || h.d.Panics() != 1 {
		t.Fatalf("panics reported %d, counted %d", h.panics.Load(), h.d.Panics())
	}
}

// TestPayloadCopiedWhenBorrowed: a message whose bytes alias a buffer the
// shard will reuse is copied before Push returns.
func TestPayloadCopiedWhenBorrowed(t *testing.T) {
	h := newHarness(t, 1, 16)
	h.block = make(chan struct{})
	o := newOwner(1)
	readBuf := []byte("original")
	h.d.Push(&o.box, msg("first"))
	h.d.Push(&o.box, &Mail{Kind: Message, Op: codec.OpText, Data: readBuf})
	copy(readBuf, "CLOBBERD")
	close(h.block)
	h.waitFor(func() bool { return len(o.snapshot()) == 2 })
	if got := o.snapshot()[1]; got != "original" {
		t.Fatalf("handler saw %q: the payload was not copied", got)
	}
}

func TestInline(t *testing.T) {
	h := newHarness(t, 0, 1)
	if !h.d.Inline() {
		t.Fatal("workers=0 must be inline")
	}
	o := newOwner(1)
	for i := 0; i < 3; i++ {
		if full := h.d.Push(&o.box, msg(fmt.Sprint(i))); full {
			t.Fatal("inline delivery never fills a box")
		}
		// Delivered before Push returned.
		if len(o.snapshot()) != i+1 {
			t.Fatalf("after push %d: %v", i, o.snapshot())
		}
	}
	h.panicOn = "bad"
	h.d.Push(&o.box, msg("bad"))
	if h.panics.Load() != 1 {
		t.Fatal("inline panic not recovered and reported")
	}
}

func BenchmarkPushDrain(b *testing.B) {
	for _, workers := range []int{0, 4} {
		name := "inline"
		if workers > 0 {
			name = "pool"
		}
		b.Run(name, func(b *testing.B) {
			var delivered atomic.Int64
			d, err := New(workers, Limits{Messages: MaxMessages, Bytes: MaxBytes}, Hooks[*owner]{
				Owner:    ownerOf,
				Deliver:  func(*owner, *Mail) { delivered.Add(1) },
				Panicked: func(*owner, any) {},
				Resume:   func(*owner) {},
				Retry:    func(*owner) {},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Release(time.Second)
			o := newOwner(1)
			payload := make([]byte, 64)
			b.ReportAllocs()
			n := int64(0)
			for b.Loop() {
				m := NewMail(Message)
				m.Op, m.Data = codec.OpBinary, payload
				d.Push(&o.box, m)
				n++
			}
			for delivered.Load() < n {
				time.Sleep(time.Microsecond)
			}
		})
	}
}
