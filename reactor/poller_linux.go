//go:build !shoal_poll

package reactor

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Poller is one epoll instance with its wake-up eventfd. Wake is safe
// from any goroutine; Add, Modify and Remove are too (epoll_ctl is), but a
// shard calls them only from the thread in Run; Close comes after Run.
type Poller struct {
	// immutable after New
	epfd   int
	wakefd int

	// shared with posting goroutines
	running     atomic.Bool   // Run is between waits: Wake need not write
	wakePending atomic.Bool   // the eventfd holds an unread wake-up
	wakeWrites  atomic.Uint64 // eventfd writes made, to observe coalescing

	// closeMu keeps Close from recycling the eventfd's number while a Wake
	// writes to it; only the rare writing Wake takes it.
	closeMu sync.RWMutex
	closed  bool

	// owned by the Run thread
	events []unix.EpollEvent
}

// New creates an epoll instance and its wake-up eventfd.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, 512)}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wakefd, Readable); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, err
	}
	return p, nil
}

// Add registers fd with interest in ev. fd must be nonblocking.
func (p *Poller) Add(fd int, ev Events) error { return p.ctl(unix.EPOLL_CTL_ADD, fd, ev) }

// AddShared registers a listening socket that several pollers watch
// together: with EPOLLEXCLUSIVE the kernel wakes one of them, not all,
// per pending connection. Its interest cannot be modified; pause it with
// Remove and add it again.
func (p *Poller) AddShared(fd int) error {
	e := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(fd)}
	if errno := rawEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &e); errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

// Modify replaces fd's interest with ev.
func (p *Poller) Modify(fd int, ev Events) error { return p.ctl(unix.EPOLL_CTL_MOD, fd, ev) }

// Remove deregisters fd. Closing an fd removes it too, but only once every
// duplicate of it is closed; Remove makes the intent explicit.
func (p *Poller) Remove(fd int) error {
	if errno := rawEpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

func (p *Poller) ctl(op, fd int, ev Events) error {
	e := unix.EpollEvent{Events: toEpoll(ev), Fd: int32(fd)}
	if errno := rawEpollCtl(p.epfd, op, fd, &e); errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

func toEpoll(ev Events) uint32 {
	var e uint32
	// RDHUP rides with read interest: a paused connection must not be
	// woken over and over by a peer's half-close it is not reading yet.
	if ev&Readable != 0 {
		e |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev&Writable != 0 {
		e |= unix.EPOLLOUT
	}
	return e
}

func fromEpoll(e uint32) Events {
	var ev Events
	if e&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
		ev |= Readable
	}
	if e&unix.EPOLLOUT != 0 {
		ev |= Writable
	}
	if e&(unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
		ev |= HangUp
	}
	if e&unix.EPOLLERR != 0 {
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
	var one = [8]byte{1}
	for {
		_, err := unix.Write(p.wakefd, one[:])
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: the counter is full, a wake-up is pending anyway
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("write", err)
	}
}

// Run locks the calling goroutine to its OS thread and drives l until
// Flush asks to stop or epoll fails. Only one Run may be active.
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
		// running was still true (their Wake wrote nothing).
		p.running.Store(false)
		if l.Pending() {
			p.running.Store(true)
			continue
		}
		n, err := unix.EpollWait(p.epfd, p.events, waitMillis(timeout))
		p.running.Store(true)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return os.NewSyscallError("epoll_wait", err)
		}
		for i := 0; i < n; i++ {
			e := &p.events[i]
			fd := int(e.Fd)
			if fd == p.wakefd {
				p.drainWake()
				continue
			}
			l.Ready(fd, fromEpoll(e.Events))
		}
	}
}

func (p *Poller) drainWake() {
	var buf [8]byte
	for {
		_, err := unix.Read(p.wakefd, buf[:])
		if err != unix.EINTR {
			break
		}
	}
	// Cleared after the read: a Wake that finds it true now has its post
	// covered by the Flush that follows this batch.
	p.wakePending.Store(false)
}

// Close releases the epoll instance and the eventfd. Call it after Run
// has returned; fds still registered are not closed.
func (p *Poller) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return os.NewSyscallError("close", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}
