//go:build dragonfly || freebsd || netbsd

package reactor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysWritev is writev(2), through the scheduler: the Linux fast path
// (raw_linux.go) is not measured on these systems.
func sysWritev(fd int, iov []unix.Iovec) (int, unix.Errno) {
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return int(n), errno
}
