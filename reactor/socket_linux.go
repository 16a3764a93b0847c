package reactor

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
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

func resolve(addr string) (netip.AddrPort, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := ta.AddrPort()
	if !ap.Addr().IsValid() {
		ap = netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
	}
	return ap, nil
}

// LocalAddr returns the address a socket is bound to.
func LocalAddr(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", err)
	}
	return toAddrPort(sa), nil
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
		r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd),
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

func toAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// Read reads from a nonblocking fd. It returns (0, nil) at end of stream,
// and an error wrapping unix.EAGAIN when nothing is there yet.
func Read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == nil {
			return n, nil
		}
		if err != unix.EINTR {
			return 0, os.NewSyscallError("read", err)
		}
	}
}

// Close closes fd.
func Close(fd int) error {
	if err := unix.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// IsAgain reports whether err says the call would block.
func IsAgain(err error) bool { return errors.Is(err, unix.EAGAIN) }

// Detach takes a socket out of Go's runtime netpoller: it duplicates the
// fd, makes the duplicate nonblocking and close-on-exec, and closes c. The
// caller owns the returned fd. This is how a connection hijacked from
// net/http moves to a shard. If it fails (out of file descriptors, see
// IsTooManyFiles), c is left open, so that the caller can still answer
// on it.
func Detach(c syscall.Conn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var dupErr error
	err = raw.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = dupErr
	}
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	if closer, ok := c.(interface{ Close() error }); ok {
		closer.Close()
	}
	_ = unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return nfd, nil
}

// Vec gathers buffers for one writev call without allocating: its iovec
// array is reused from call to call. A Vec belongs to one goroutine.
type Vec struct {
	iov   []unix.Iovec
	total int
}

// MaxVec is the most buffers one writev takes (Linux's IOV_MAX).
const MaxVec = 1024

// Add appends b to the next write. It reports false, adding nothing, when
// the Vec already holds MaxVec buffers. Empty buffers are skipped.
func (v *Vec) Add(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if len(v.iov) == MaxVec {
		return false
	}
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	v.iov = append(v.iov, iov)
	v.total += len(b)
	return true
}

// Len is the number of bytes gathered.
func (v *Vec) Len() int { return v.total }

// Reset empties v, dropping its references to the buffers.
func (v *Vec) Reset() {
	clear(v.iov)
	v.iov = v.iov[:0]
	v.total = 0
}

// Writev writes the gathered buffers to fd in one system call and returns
// how many bytes the kernel took; the caller keeps the rest for later.
// An error wrapping unix.EAGAIN means the socket buffer is full.
func (v *Vec) Writev(fd int) (int, error) {
	if len(v.iov) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd),
			uintptr(unsafe.Pointer(&v.iov[0])), uintptr(len(v.iov)))
		if errno == 0 {
			return int(n), nil
		}
		if errno != unix.EINTR {
			return 0, os.NewSyscallError("writev", errno)
		}
	}
}

// ShutdownWrite sends FIN: the peer reads end of stream after the bytes
// already written, while this side can still read what the peer sends.
func ShutdownWrite(fd int) error {
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// IsTooManyFiles reports whether err is the process or system running out
// of file descriptors, which a listener must back off from rather than
// retry at once.
func IsTooManyFiles(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}
