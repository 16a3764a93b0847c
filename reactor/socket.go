//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package reactor

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The socket calls that read the same on every supported system. What
// differs (creating sockets and accepting them without Linux's atomic
// flags, which SO_REUSEPORT option spreads connections, how writev is
// reached) lives in socket_linux.go for the epoll backend and
// socket_portable.go for the poll backend.

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

func toAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// Read reads from a nonblocking socket. It returns (0, nil) at end of
// stream, and unix.EAGAIN itself (see IsAgain) when nothing is there yet:
// the one error a level-triggered loop meets in passing, so it is not
// wrapped, which would allocate.
func Read(fd int, b []byte) (int, error) {
	for {
		n, errno := sysRead(fd, b)
		if errno != unix.EINTR {
			return result("read", n, errno)
		}
	}
}

// Write writes b to a nonblocking socket in one call and returns how
// much the kernel took; unix.EAGAIN itself when it took nothing. Meant
// for the goroutine that owns fd: writes from two goroutines at once
// could interleave their bytes.
func Write(fd int, b []byte) (int, error) {
	for {
		n, errno := sysWrite(fd, b)
		if errno != unix.EINTR {
			return result("write", n, errno)
		}
	}
}

// result turns a nonblocking call's outcome into Read's and Write's:
// unix.EAGAIN itself, unwrapped, since wrapping it would allocate on the
// loop's most common error.
func result(op string, n int, errno unix.Errno) (int, error) {
	switch errno {
	case 0:
		return n, nil
	case unix.EAGAIN:
		return 0, unix.EAGAIN
	}
	return 0, os.NewSyscallError(op, errno)
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
