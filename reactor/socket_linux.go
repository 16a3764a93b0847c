//go:build !shoal_poll

package reactor

import (
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listen opens a nonblocking TCP listening socket on addr ("host:port").
// With reusePort, SO_REUSEPORT is set so that several sockets, one per
// shard, can share the port and the kernel spreads connections over them;
// any other socket of the same user that sets it may then join the port.
// Without it the port is the socket's alone: binding fails with
// EADDRINUSE if anything listens there, and nothing can bind it after.
func Listen(addr string, reusePort bool, backlog int) (int, error) {
	ap, err := resolve(addr)
	if err != nil {
		return -1, err
	}
	family := unix.AF_INET
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
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
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
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

// Acceptor takes pending connections from listening sockets, already
// nonblocking and close-on-exec, with Nagle's algorithm off (frames are
// written whole, and a small frame must not wait for an ACK). The peer's
// address lands in the Acceptor's own buffer: unix.Accept4 allocates two
// objects per connection for it, garbage that a burst of accepts turns
// into resident memory. One Acceptor serves one thread at a time.
type Acceptor struct {
	raw  unix.RawSockaddrAny
	size uint32
}

// Accept takes one pending connection from the listening socket lfd. It
// returns unix.EAGAIN, wrapped, when none is pending.
func (a *Acceptor) Accept(lfd int) (int, netip.AddrPort, error) {
	for {
		a.size = unix.SizeofSockaddrAny
		r, _, errno := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd),
			uintptr(unsafe.Pointer(&a.raw)), uintptr(unsafe.Pointer(&a.size)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if errno == unix.EINTR || errno == unix.ECONNABORTED {
			continue
		}
		if errno != 0 {
			return -1, netip.AddrPort{}, os.NewSyscallError("accept4", errno)
		}
		fd := int(r)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		return fd, a.peer(), nil
	}
}

// peer decodes the address the last Accept read.
func (a *Acceptor) peer() netip.AddrPort {
	switch a.raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port(sa.Port))
	}
	return netip.AddrPort{}
}

// port turns a sockaddr's port, in network byte order, into a number.
func port(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
