package reactor

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testLoop is a Loop driven by plain functions, for tests.
type testLoop struct {
	ready   func(fd int, ev Events)
	flush   func() (time.Duration, bool)
	pending func() bool
}

func (l *testLoop) Ready(fd int, ev Events) { l.ready(fd, ev) }
func (l *testLoop) Flush() (time.Duration, bool) {
	return l.flush()
}
func (l *testLoop) Pending() bool {
	if l.pending == nil {
		return false
	}
	return l.pending()
}

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	// No SOCK_NONBLOCK: macOS lacks it, and these tests build there.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	return fds[0], fds[1]
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// runFor runs p until stop returns true, reporting each readiness event.
func runFor(t *testing.T, p *Poller, ready func(fd int, ev Events), stop func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	err := p.Run(&testLoop{
		ready: ready,
		flush: func() (time.Duration, bool) {
			if time.Now().After(deadline) {
				t.Error("loop did not finish in time")
				return 0, true
			}
			return 10 * time.Millisecond, stop()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadableLevelTriggered(t *testing.T) {
	p := newPoller(t)
	a, b := socketPair(t)
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	unix.Write(b, []byte("hi"))
	// Level-triggered: not reading leaves the fd ready on the next wait too.
	seen := 0
	runFor(t, p, func(fd int, ev Events) {
		if fd == a && ev&Readable != 0 {
			seen++
		}
	}, func() bool { return seen >= 3 })

	// Dropping read interest silences it although bytes are waiting:
	// this is how a shard pauses a conn whose mailbox is full.
	if err := p.Modify(a, 0); err != nil {
		t.Fatal(err)
	}
	passes, seen := 0, 0
	runFor(t, p, func(fd int, ev Events) {
		if fd == a && ev&Readable != 0 {
			seen++
		}
	}, func() bool { passes++; return passes > 3 })
	if seen != 0 {
		t.Fatalf("paused fd reported readable %d times", seen)
	}
}

func TestWritableOnlyWhenArmed(t *testing.T) {
	p := newPoller(t)
	a, _ := socketPair(t)
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	passes, writable := 0, 0
	ready := func(fd int, ev Events) {
		if ev&Writable != 0 {
			writable++
		}
	}
	runFor(t, p, ready, func() bool { passes++; return passes > 3 })
	if writable != 0 {
		t.Fatal("writable reported without interest")
	}
	if err := p.Modify(a, Readable|Writable); err != nil {
		t.Fatal(err)
	}
	runFor(t, p, ready, func() bool { return writable > 0 })
}

func TestHangUp(t *testing.T) {
	p := newPoller(t)
	a, b := socketPair(t)
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	unix.Close(b)
	var got Events
	runFor(t, p, func(fd int, ev Events) { got |= ev }, func() bool { return got&HangUp != 0 })
	n, err := Read(a, make([]byte, 8))
	if n != 0 || err != nil {
		t.Fatalf("Read after hang-up = %d, %v; want 0, nil (end of stream)", n, err)
	}
}

func TestRemove(t *testing.T) {
	p := newPoller(t)
	a, b := socketPair(t)
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(a); err != nil {
		t.Fatal(err)
	}
	unix.Write(b, []byte("x"))
	passes, seen := 0, 0
	runFor(t, p, func(int, Events) { seen++ }, func() bool { passes++; return passes > 3 })
	if seen != 0 {
		t.Fatal("removed fd still reported")
	}
}

func TestSyscallErrorsWrapped(t *testing.T) {
	p := newPoller(t)
	err := p.Add(1<<20, Readable)
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != addSyscall || !errors.Is(err, unix.EBADF) {
		t.Fatalf("Add(bad fd) = %v, want *os.SyscallError %s EBADF", err, addSyscall)
	}
	// EAGAIN is the one error a level-triggered loop meets in passing: it
	// comes bare, so that it costs no allocation; the rest are wrapped.
	a, _ := socketPair(t)
	buf := make([]byte, 1)
	_, err = Read(a, buf)
	if !IsAgain(err) || errors.As(err, &se) {
		t.Fatalf("Read on empty socket = %#v, want bare EAGAIN", err)
	}
	if !raceEnabled {
		if n := testing.AllocsPerRun(100, func() { Read(a, buf) }); n != 0 {
			t.Fatalf("Read that finds nothing allocates %v times", n)
		}
	}
	_, err = Read(1<<20, buf)
	if !errors.As(err, &se) || se.Syscall != "read" || !errors.Is(err, unix.EBADF) {
		t.Fatalf("Read on a bad fd = %v, want *os.SyscallError read EBADF", err)
	}
}

// TestWakeCoalesced posts from many goroutines while the loop sleeps and
// checks that every post is seen and that far fewer eventfd writes than
// posts were made.
func TestWakeCoalesced(t *testing.T) {
	p := newPoller(t)
	const posters, posts = 8, 2000
	var posted, handled atomic.Int64
	var mu sync.Mutex
	queue := 0
	drain := func() {
		mu.Lock()
		handled.Add(int64(queue))
		queue = 0
		mu.Unlock()
	}
	var wg sync.WaitGroup
	done := make(chan error, 1)
	go func() {
		done <- p.Run(&testLoop{
			ready: func(int, Events) {},
			flush: func() (time.Duration, bool) {
				drain()
				return -1, handled.Load() == posters*posts
			},
			pending: func() bool { mu.Lock(); defer mu.Unlock(); return queue > 0 },
		})
	}()
	for i := 0; i < posters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < posts; j++ {
				mu.Lock()
				queue++
				mu.Unlock()
				posted.Add(1)
				if err := p.Wake(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("loop stuck: handled %d of %d posts (a wake-up was lost)", handled.Load(), posted.Load())
	}
	writes := p.wakeWrites.Load()
	t.Logf("%d posts, %d eventfd writes", posted.Load(), writes)
	if writes >= posters*posts {
		t.Fatalf("wake-ups not coalesced: %d writes for %d posts", writes, posters*posts)
	}
}

// TestRunLocksThread: every callback of one Run happens on one OS thread,
// which is what lets a shard own its connections without locks.
func TestRunLocksThread(t *testing.T) {
	p := newPoller(t)
	a, b := socketPair(t)
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	if threadID() == 0 {
		t.Skip("no thread id on " + runtime.GOOS)
	}
	tids := map[int]bool{}
	passes := 0
	err := p.Run(&testLoop{
		ready: func(fd int, ev Events) {
			tids[threadID()] = true
			Read(a, make([]byte, 16))
		},
		flush: func() (time.Duration, bool) {
			tids[threadID()] = true
			passes++
			unix.Write(b, []byte("x"))
			// Give the scheduler every chance to move an unlocked goroutine.
			go func() {}()
			return time.Millisecond, passes > 50
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) != 1 {
		t.Fatalf("callbacks ran on %d threads, want 1", len(tids))
	}
}

func TestCloseTwiceAndWakeAfterClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if err := p.Wake(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wake after Close = %v, want ErrClosed", err)
	}
}

func TestWaitMillis(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-1, -1},
		{0, 0},
		{300 * time.Microsecond, 1},
		{time.Millisecond, 1},
		{1500 * time.Microsecond, 2},
		{time.Hour * 24 * 365 * 100, 1 << 30},
	}
	for _, tt := range tests {
		if got := waitMillis(tt.d); got != tt.want {
			t.Errorf("waitMillis(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// TestAddFromAnotherGoroutine registers a readable fd while Run sleeps
// with no timeout: the change must reach the wait without any other
// event, on either backend.
func TestAddFromAnotherGoroutine(t *testing.T) {
	p := newPoller(t)
	a, b := socketPair(t)
	unix.Write(b, []byte("x"))
	sleeping := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		seen := false
		done <- p.Run(&testLoop{
			ready: func(fd int, ev Events) { seen = seen || (fd == a && ev&Readable != 0) },
			flush: func() (time.Duration, bool) {
				once.Do(func() { close(sleeping) })
				return -1, seen
			},
		})
	}()
	<-sleeping
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an fd added while Run slept was never reported")
	}
}

func TestRegistrationErrors(t *testing.T) {
	p := newPoller(t)
	a, _ := socketPair(t)
	if err := p.Modify(a, Readable); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Modify(unregistered) = %v, want ENOENT", err)
	}
	if err := p.Remove(a); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Remove(unregistered) = %v, want ENOENT", err)
	}
	if err := p.Add(a, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(a, Readable); !errors.Is(err, unix.EEXIST) {
		t.Errorf("Add twice = %v, want EEXIST", err)
	}
}
