//go:build darwin || dragonfly || freebsd || netbsd || openbsd || (linux && shoal_poll)

package reactor

import (
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The poll backend's sockets use only calls every Unix has. macOS has no
// accept4 and no SOCK_NONBLOCK or SOCK_CLOEXEC flags, so a new fd is
// marked close-on-exec under syscall.ForkLock (a concurrent fork+exec in
// another goroutine must not inherit it half made, which is how the
// standard library does it on these systems) and then made nonblocking.

// Listen opens a nonblocking TCP listening socket on addr ("host:port").
// With reusePort, several sockets, one per shard, can share the port.
// Linux, FreeBSD (SO_REUSEPORT_LB) and DragonFly spread connections over
// them; macOS, NetBSD and OpenBSD let them all bind but hand every
// connection to one of them, so one shard accepts them all.
func Listen(addr string, reusePort bool, backlog int) (int, error) {
	ap, err := resolve(addr)
	if err != nil {
		return -1, err
	}
	family := unix.AF_INET
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := newFD("socket", func() (int, error) {
		return unix.Socket(family, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	})
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET6 && ap.Addr().IsUnspecified() {
		// Every address means IPv4 too. Linux's IPv6 sockets take IPv4
		// by default, FreeBSD's must be asked, and OpenBSD's cannot be:
		// there, listen on IPv4's every-address instead.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()).String(), reusePort, backlog)
		}
	}
	if err := listenOn(fd, family, ap, reusePort, backlog); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func listenOn(fd, family int, ap netip.AddrPort, reusePort bool, backlog int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, reusePortOption, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
}

// newFD runs create, which makes one fd, so that the fd is close-on-exec
// before any fork can copy it, then makes it nonblocking. name is the
// syscall an error is reported against.
func newFD(name string, create func() (int, error)) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := create()
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError(name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}

// Acceptor takes pending connections from listening sockets, already
// nonblocking and close-on-exec, with Nagle's algorithm off (frames are
// written whole, and a small frame must not wait for an ACK). On this
// backend the peer's address comes back from x/sys's Accept, which
// allocates it: a little garbage per connection, which the epoll backend
// avoids with a raw accept4 into a buffer of its own. One Acceptor serves
// one thread at a time.
type Acceptor struct{}

// Accept takes one pending connection from the listening socket lfd. It
// returns unix.EAGAIN, wrapped, when none is pending.
func (a *Acceptor) Accept(lfd int) (int, netip.AddrPort, error) {
	for {
		syscall.ForkLock.RLock()
		fd, sa, err := unix.Accept(lfd)
		if err == nil {
			unix.CloseOnExec(fd)
		}
		syscall.ForkLock.RUnlock()
		// A connection reset before it was taken is not the listener's
		// fault; neither is a signal.
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return -1, netip.AddrPort{}, os.NewSyscallError("accept", err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return -1, netip.AddrPort{}, os.NewSyscallError("fcntl", err)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		return fd, toAddrPort(sa), nil
	}
}

// sysRead is read(2): the portable systems have no call to skip.
func sysRead(fd int, b []byte) (int, unix.Errno) {
	n, err := unix.Read(fd, b)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	return n, 0
}

// sysWrite is write(2).
func sysWrite(fd int, b []byte) (int, unix.Errno) {
	n, err := unix.Write(fd, b)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	return n, 0
}
