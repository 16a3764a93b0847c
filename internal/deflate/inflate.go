package deflate

import (
	"bytes"
	"errors"
	"io"

	"github.com/klauspost/compress/flate"

	"github.com/shoalws/shoal/internal/bufpool"
)

// Errors of inflation.
var (
	// ErrTooBig: the message inflates to more than the limit.
	ErrTooBig = errors.New("deflate: message inflates past the limit")
	// ErrCorrupt: the payload is not valid DEFLATE data.
	ErrCorrupt = errors.New("deflate: invalid compressed data")
)

// messageEnd goes after a payload before it is inflated: the sync flush
// tail the sender removed (RFC 7692 §7.2.2), then an empty final stored
// block, so that the inflater ends the message with io.EOF rather than
// waiting for more input.
var messageEnd = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// Inflater inflates messages one at a time, streaming: its output is
// read in pieces of the caller's choosing and ends at a limit, so a small
// payload that would inflate to gigabytes costs the limit at most. It
// holds a DEFLATE decoder (about 40 KiB with its 32 KiB window) made on
// first use; whoever inflates one message at a time (an engine shard)
// keeps one. Not safe for concurrent use.
type Inflater struct {
	fr    io.ReadCloser // a flate decompressor, also a flate.Resetter
	src   bytes.Reader  // reads in; the decoder is fastest on a *bytes.Reader
	in    *bufpool.Buf  // the payload and messageEnd
	limit int64
	n     int64 // bytes read out so far
	err   error // sticky: ErrTooBig, ErrCorrupt or io.EOF
}

// Reset starts inflating one message's payload, as on the wire, with dict
// as its context (Window.Bytes for a direction that takes over its
// context, else nil). Reading past limit bytes of output fails with
// ErrTooBig. The payload is copied: the caller may reuse it at once.
func (f *Inflater) Reset(payload, dict []byte, limit int64) {
	f.Finish()
	f.in = bufpool.Get(len(payload) + len(messageEnd))
	f.in.B = append(append(f.in.B, payload...), messageEnd...)
	f.src.Reset(f.in.B)
	if f.fr == nil {
		f.fr = flate.NewReaderDict(&f.src, dict)
	} else {
		_ = f.fr.(flate.Resetter).Reset(&f.src, dict) // never fails
	}
	f.limit, f.n, f.err = limit, 0, nil
}

// Read reads inflated bytes of the message: io.EOF once it is whole,
// ErrTooBig past the limit, ErrCorrupt for data that does not inflate.
func (f *Inflater) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	// Ask for one byte past the limit at most: if it comes, the message
	// is too big, and nothing more than that was inflated.
	if room := f.limit - f.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := f.fr.Read(p)
	f.n += int64(n)
	switch {
	case f.n > f.limit:
		f.err = ErrTooBig
		return n - int(f.n-f.limit), f.err
	case err == io.EOF:
		f.err = io.EOF
	case err != nil:
		// A corrupt block, or the input ending inside one.
		f.err = ErrCorrupt
	}
	return n, f.err
}

// Finish ends the current message and releases the copy of its payload.
// The next Reset calls it too.
func (f *Inflater) Finish() {
	if f.in != nil {
		f.src.Reset(nil)
		f.in.Release()
		f.in = nil
	}
}

// Inflate inflates payload (with dict as its context) into b, which it
// grows from the pool as the output arrives, never past limit bytes, and
// returns the buffer holding the message. b may be nil. On error the
// buffer is released and nil returned.
func (f *Inflater) Inflate(b *bufpool.Buf, payload, dict []byte, limit int64) (*bufpool.Buf, error) {
	f.Reset(payload, dict, limit)
	defer f.Finish()
	// Text compresses to a third or less: start from there, and grow by
	// the pool's doubling.
	b = bufpool.Grow(b, int(min(limit+1, int64(3*len(payload)+64))))
	for {
		if len(b.B) == cap(b.B) {
			b = growUpTo(b, limit+1)
		}
		n, err := f.Read(b.B[len(b.B):cap(b.B)])
		b.B = b.B[:len(b.B)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			b.Release()
			return nil, err
		}
	}
}

// growUpTo doubles b's room, but to no more than most bytes in all: the
// output never needs more than one byte past the limit.
func growUpTo(b *bufpool.Buf, most int64) *bufpool.Buf {
	if int64(2*cap(b.B)) <= most {
		return bufpool.Grow(b, len(b.B))
	}
	nb := bufpool.Get(int(most))
	nb.B = append(nb.B, b.B...)
	b.Release()
	return nb
}
