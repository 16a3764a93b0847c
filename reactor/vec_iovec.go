//go:build (linux && !shoal_poll) || dragonfly || freebsd || netbsd

package reactor

import (
	"golang.org/x/sys/unix"
)

// Vec gathers buffers for one writev call without allocating: its iovec
// array is reused from call to call. A Vec belongs to one goroutine.
type Vec struct {
	iov   []unix.Iovec
	total int
}

// MaxVec is the most buffers one writev takes (IOV_MAX on Linux and the
// BSDs).
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
// unix.EAGAIN itself (not wrapped, see Read) means the socket buffer is
// full.
func (v *Vec) Writev(fd int) (int, error) {
	if len(v.iov) == 0 {
		return 0, nil
	}
	for {
		n, errno := sysWritev(fd, v.iov)
		if errno != unix.EINTR {
			return result("writev", n, errno)
		}
	}
}
