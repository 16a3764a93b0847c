//go:build !shoal_poll

package reactor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The calls a shard makes per message, on sockets that never block, go
// straight to the kernel (RawSyscall): no entersyscall and exitsyscall
// around them, so the Go scheduler never sees the shard's P in a system
// call for them, and the sockets' own entry points (recvfrom, sendmsg)
// skip the file-position lock that read and writev take. Only the
// blocking epoll_wait and close go through the scheduler.

// sysRead reads from a nonblocking socket.
func sysRead(fd int, b []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(p), uintptr(len(b)), 0, 0, 0)
	return int(n), errno
}

// sysWrite writes b to a nonblocking socket.
func sysWrite(fd int, b []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// sysWritev writes iov to a nonblocking socket in one sendmsg.
// MSG_NOSIGNAL: a peer that reset the connection is an EPIPE here, not a
// SIGPIPE for the process.
func sysWritev(fd int, iov []unix.Iovec) (int, unix.Errno) {
	msg := unix.Msghdr{Iov: &iov[0]}
	msg.SetIovlen(len(iov))
	n, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)),
		unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	return int(n), errno
}

// rawEpollCtl is epoll_ctl, which takes a lock in the kernel but never
// sleeps on I/O.
func rawEpollCtl(epfd, op, fd int, e *unix.EpollEvent) unix.Errno {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(e)), 0, 0)
	return errno
}
