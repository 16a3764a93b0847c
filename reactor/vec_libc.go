//go:build darwin || openbsd || (linux && shoal_poll)

package reactor

import (
	"os"

	"golang.org/x/sys/unix"
)

// Vec gathers buffers for writev without allocating. A Vec belongs to
// one goroutine.
//
// macOS and OpenBSD give no stable system call numbers: writev is reached
// through libc, by x/sys's Writev, which builds its iovec array on the
// stack for up to writevBatch buffers and on the heap beyond. So Writev
// writes the gathered buffers in batches of writevBatch, in order, and
// stops at the first batch the kernel does not take whole. (Linux runs
// this code under the shoal_poll build tag, so CI tests it.)
type Vec struct {
	bufs  [][]byte
	total int
}

// MaxVec is the most buffers a Vec gathers for one Writev.
const MaxVec = 1024

// writevBatch is how many buffers x/sys's Writev converts without
// allocating.
const writevBatch = 8

// Add appends b to the next write. It reports false, adding nothing, when
// the Vec already holds MaxVec buffers. Empty buffers are skipped.
func (v *Vec) Add(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if len(v.bufs) == MaxVec {
		return false
	}
	v.bufs = append(v.bufs, b)
	v.total += len(b)
	return true
}

// Len is the number of bytes gathered.
func (v *Vec) Len() int { return v.total }

// Reset empties v, dropping its references to the buffers.
func (v *Vec) Reset() {
	clear(v.bufs)
	v.bufs = v.bufs[:0]
	v.total = 0
}

// Writev writes the gathered buffers to fd and returns how many bytes the
// kernel took; the caller keeps the rest for later. An error wrapping
// unix.EAGAIN means the socket buffer is full.
func (v *Vec) Writev(fd int) (int, error) {
	written := 0
	for i := 0; i < len(v.bufs); i += writevBatch {
		batch := v.bufs[i:min(i+writevBatch, len(v.bufs))]
		want := 0
		for _, b := range batch {
			want += len(b)
		}
		n, err := writev(fd, batch)
		if err != nil {
			if written > 0 {
				// The earlier batches went out: report them. The error,
				// or the full buffer, comes back on the next write.
				return written, nil
			}
			return 0, err
		}
		written += n
		if n < want {
			break
		}
	}
	return written, nil
}

func writev(fd int, bufs [][]byte) (int, error) {
	for {
		n, err := unix.Writev(fd, bufs)
		if err == nil {
			return n, nil
		}
		if err != unix.EINTR {
			return 0, os.NewSyscallError("writev", err)
		}
	}
}
