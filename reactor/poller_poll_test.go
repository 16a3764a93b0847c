//go:build darwin || dragonfly || freebsd || netbsd || openbsd || (linux && shoal_poll)

package reactor

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPollStaleEventsFiltered: poll reports a batch at once; an fd that
// an earlier Ready of the same batch removed or paused must not be
// reported, as it would not be after epoll_ctl.
func TestPollStaleEventsFiltered(t *testing.T) {
	p := newPoller(t)
	a, a2 := socketPair(t)
	b, b2 := socketPair(t)
	// a before b in the set, so a's Ready comes first in a batch.
	for _, fd := range []int{a, b} {
		if err := p.Add(fd, Readable); err != nil {
			t.Fatal(err)
		}
	}
	unix.Write(a2, []byte("x"))
	unix.Write(b2, []byte("x"))
	for _, tt := range []struct {
		name    string
		silence func() error
	}{
		{"removed", func() error { return p.Remove(b) }},
		{"paused", func() error { return p.Modify(b, 0) }},
	} {
		seenA, seenB, passes := 0, 0, 0
		runFor(t, p, func(fd int, ev Events) {
			switch fd {
			case a:
				if seenA++; seenA == 1 {
					if err := tt.silence(); err != nil {
						t.Fatal(err)
					}
				}
			case b:
				seenB++
			}
		}, func() bool { passes++; return passes > 3 })
		if seenA == 0 || seenB != 0 {
			t.Fatalf("%s: a reported %d times, b %d; want b never", tt.name, seenA, seenB)
		}
		if tt.name == "removed" {
			if err := p.Add(b, Readable); err != nil { // back, still after a
				t.Fatal(err)
			}
		}
	}
}

// TestPollSetLimit: past the set's limit (macOS's OPEN_MAX) Add refuses
// with EMFILE and the loop keeps serving the fds it has.
func TestPollSetLimit(t *testing.T) {
	p := newPoller(t)
	p.limit = 3 // the wake pipe and two fds
	a, a2 := socketPair(t)
	b, _ := socketPair(t)
	c, _ := socketPair(t)
	for _, fd := range []int{a, b} {
		if err := p.Add(fd, Readable); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Add(c, Readable); !errors.Is(err, unix.EMFILE) || !IsTooManyFiles(err) {
		t.Fatalf("Add past the limit = %v, want EMFILE", err)
	}
	unix.Write(a2, []byte("x"))
	seen := false
	runFor(t, p, func(fd int, ev Events) { seen = seen || fd == a }, func() bool { return seen })
	// Room again after a Remove.
	if err := p.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(c, Readable); err != nil {
		t.Fatalf("Add after Remove = %v", err)
	}
}

// TestPollClosedWithoutRemove: a poll set keeps an fd closed behind its
// back and says so with Error, which a shard answers by removing it;
// Remove frees the number for a new fd.
func TestPollClosedWithoutRemove(t *testing.T) {
	p := newPoller(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if err := p.Add(fds[0], Readable); err != nil {
		t.Fatal(err)
	}
	unix.Close(fds[0])
	var got Events
	runFor(t, p, func(fd int, ev Events) {
		if fd == fds[0] {
			got |= ev
			p.Remove(fd)
		}
	}, func() bool { return got != 0 })
	if got&Error == 0 {
		t.Fatalf("closed fd reported %v, want Error", got)
	}
}
