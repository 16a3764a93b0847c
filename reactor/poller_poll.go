//go:build darwin || dragonfly || freebsd || netbsd || openbsd || (linux && shoal_poll)

package reactor

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The portable backend: poll(2) over the registered fds, with a pipe to
// wake the loop, on every Unix without epoll (macOS and the BSDs) and on
// Linux built with the shoal_poll tag, which is how CI runs the engine's
// tests on it. Its semantics are the epoll backend's: level-triggered
// readiness, hang-ups and errors always reported, coalesced wake-ups. A
// wait costs time in proportion to the fds registered, which suits
// development and modest servers, not the hundreds of thousands of
// connections the epoll backend is for.

// Poller is one poll set with its wake-up pipe. Wake is safe from any
// goroutine; so are Add, Modify and Remove (they lock the set, and wake a
// sleeping Run so that the next wait sees the change), though a shard
// calls them only from the thread in Run; Close comes after Run.
type Poller struct {
	// immutable after New
	wakeR, wakeW int
	limit        int // the most fds one poll call may watch

	// shared with posting goroutines
	running     atomic.Bool   // Run is between waits: Wake need not write
	wakePending atomic.Bool   // the pipe holds an unread wake-up
	wakeWrites  atomic.Uint64 // pipe writes made, to observe coalescing

	// closeMu keeps Close from recycling the pipe's numbers while a Wake
	// writes to it; only the rare writing Wake takes it.
	closeMu sync.RWMutex
	closed  bool

	// mu guards the registered set.
	mu   sync.Mutex
	fds  []unix.PollFd // the wake pipe's read end first, then every fd added
	slot []int32       // fd -> its index in fds plus one; 0: not registered
	gen  uint64        // bumped on every change to fds

	// owned by the Run thread
	wait    []unix.PollFd // the set poll watches: fds as of waitGen
	waitGen uint64
}

// maxPollFds is the most fds one poll call takes. macOS fails a larger
// call with EINVAL (OPEN_MAX, 10,240), which would stop the loop, so Add
// refuses the next fd instead; elsewhere the open-files limit is the only
// bound.
var maxPollFds = func() int {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return 10240
	}
	return 1<<31 - 1
}()

// New creates a poll set and its wake-up pipe.
func New() (*Poller, error) {
	var fds [2]int
	syscall.ForkLock.RLock()
	err := unix.Pipe(fds[:])
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("pipe", err)
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	p := &Poller{wakeR: fds[0], wakeW: fds[1], limit: maxPollFds, gen: 1}
	p.fds = append(p.fds, unix.PollFd{Fd: int32(p.wakeR), Events: unix.POLLIN})
	p.setSlot(p.wakeR, 0)
	return p, nil
}

// Add registers fd with interest in ev. fd must be nonblocking.
func (p *Poller) Add(fd int, ev Events) error {
	// poll would report a bad fd only as POLLNVAL on the next wait; refuse
	// it now, as epoll_ctl does.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	p.mu.Lock()
	if p.index(fd) >= 0 {
		p.mu.Unlock()
		return fmt.Errorf("reactor: fd %d already registered: %w", fd, unix.EEXIST)
	}
	if len(p.fds) >= p.limit {
		p.mu.Unlock()
		return fmt.Errorf("reactor: poll set full (%d fds): %w", p.limit, unix.EMFILE)
	}
	p.setSlot(fd, len(p.fds))
	p.fds = append(p.fds, unix.PollFd{Fd: int32(fd), Events: toPoll(ev)})
	p.gen++
	p.mu.Unlock()
	p.Wake()
	return nil
}

// AddShared registers a listening socket that several pollers watch
// together. poll has nothing like EPOLLEXCLUSIVE: a pending connection
// wakes every poller watching the socket, one accepts it and the others
// find nothing (EAGAIN), which costs a wake-up per shard per connection
// and is harmless. As with epoll, pause it with Remove and add it again.
func (p *Poller) AddShared(fd int) error { return p.Add(fd, Readable) }

// Modify replaces fd's interest with ev.
func (p *Poller) Modify(fd int, ev Events) error {
	p.mu.Lock()
	i := p.index(fd)
	if i <= 0 {
		p.mu.Unlock()
		return fmt.Errorf("reactor: fd %d not registered: %w", fd, unix.ENOENT)
	}
	p.fds[i].Events = toPoll(ev)
	p.gen++
	p.mu.Unlock()
	p.Wake()
	return nil
}

// Remove deregisters fd. Unlike epoll, a poll set keeps a closed fd (and
// reports it as an Error on every wait): remove an fd before closing it.
func (p *Poller) Remove(fd int) error {
	p.mu.Lock()
	i := p.index(fd)
	if i <= 0 {
		p.mu.Unlock()
		return fmt.Errorf("reactor: fd %d not registered: %w", fd, unix.ENOENT)
	}
	last := len(p.fds) - 1
	if i != last {
		p.fds[i] = p.fds[last]
		p.setSlot(int(p.fds[i].Fd), i)
	}
	p.fds = p.fds[:last]
	p.slot[fd] = 0
	p.gen++
	p.mu.Unlock()
	// A sleeping Run need not wake: a stale entry in its wait set is
	// filtered out when it reports.
	return nil
}

// index is fd's place in fds, or -1. Call with mu held.
func (p *Poller) index(fd int) int {
	if fd < 0 || fd >= len(p.slot) {
		return -1
	}
	return int(p.slot[fd]) - 1
}

// setSlot records fd's place in fds. Call with mu held.
func (p *Poller) setSlot(fd, i int) {
	if fd >= len(p.slot) {
		p.slot = append(p.slot, make([]int32, fd+1-len(p.slot))...)
	}
	p.slot[fd] = int32(i + 1)
}

// interest is what fd is registered for, with the conditions always
// reported, or 0 if it is not registered. Call with mu held.
func (p *Poller) interest(fd int) Events {
	i := p.index(fd)
	if i <= 0 {
		return 0
	}
	return fromPoll(p.fds[i].Events) | HangUp | Error
}

func toPoll(ev Events) int16 {
	var e int16
	if ev&Readable != 0 {
		e |= unix.POLLIN
	}
	if ev&Writable != 0 {
		e |= unix.POLLOUT
	}
	return e
}

func fromPoll(e int16) Events {
	var ev Events
	if e&(unix.POLLIN|unix.POLLPRI) != 0 {
		ev |= Readable
	}
	if e&unix.POLLOUT != 0 {
		ev |= Writable
	}
	if e&unix.POLLHUP != 0 {
		ev |= HangUp
	}
	if e&(unix.POLLERR|unix.POLLNVAL) != 0 {
		ev |= Error
	}
	return ev
}

// Wake makes Run call Flush soon. Safe from any goroutine. Calls are
// coalesced: while Run is between waits, or a wake-up is already on its
// way, nothing is written.
func (p *Poller) Wake() error {
	if p.running.Load() || !p.wakePending.CompareAndSwap(false, true) {
		return nil
	}
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	p.wakeWrites.Add(1)
	var one = [1]byte{1}
	for {
		_, err := unix.Write(p.wakeW, one[:])
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: the pipe is full, a wake-up is pending anyway
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("write", err)
	}
}

// Run locks the calling goroutine to its OS thread and drives l until
// Flush asks to stop or poll fails. Only one Run may be active.
func (p *Poller) Run(l Loop) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p.running.Store(true)
	defer p.running.Store(false)
	for {
		timeout, stop := l.Flush()
		if stop {
			return nil
		}
		// Announce the sleep, then look once more for posts made while
		// running was still true (their Wake wrote nothing). The set is
		// copied after the announcement: a change made later wakes us.
		p.running.Store(false)
		if l.Pending() {
			p.running.Store(true)
			continue
		}
		p.refreshWaitSet()
		n, err := unix.Poll(p.wait, waitMillis(timeout))
		p.running.Store(true)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return os.NewSyscallError("poll", err)
		}
		p.dispatch(l, n)
	}
}

func (p *Poller) refreshWaitSet() {
	p.mu.Lock()
	if p.waitGen != p.gen {
		p.wait = append(p.wait[:0], p.fds...)
		p.waitGen = p.gen
	}
	p.mu.Unlock()
}

// dispatch reports the n fds poll found ready. An fd removed or modified
// since the wait began (by an earlier Ready of this batch, or another
// goroutine) is reported only for what it is registered for now, as
// epoll_ctl would have taken effect at once.
func (p *Poller) dispatch(l Loop, n int) {
	for i := 0; n > 0 && i < len(p.wait); i++ {
		pf := &p.wait[i]
		if pf.Revents == 0 {
			continue
		}
		n--
		fd := int(pf.Fd)
		if fd == p.wakeR {
			p.drainWake()
			continue
		}
		p.mu.Lock()
		ev := fromPoll(pf.Revents) & p.interest(fd)
		p.mu.Unlock()
		if ev != 0 {
			l.Ready(fd, ev)
		}
	}
}

func (p *Poller) drainWake() {
	var buf [64]byte
	for {
		n, err := unix.Read(p.wakeR, buf[:])
		if err == unix.EINTR || (err == nil && n == len(buf)) {
			continue
		}
		break
	}
	// Cleared after the read: a Wake that finds it true now has its post
	// covered by the Flush that follows this batch.
	p.wakePending.Store(false)
}

// Close releases the wake-up pipe. Call it after Run has returned; fds
// still registered are not closed.
func (p *Poller) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	err1 := unix.Close(p.wakeR)
	err2 := unix.Close(p.wakeW)
	if err1 != nil {
		return os.NewSyscallError("close", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}
