package deflate

import (
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"

	"github.com/shoalws/shoal/codec"
)

// Levels a Pool compresses at, as in zlib: 1 is the fastest, 9 the
// smallest. Compressors for a window under 32 KiB use klauspost's
// windowed encoder, which has one level of its own.
const (
	MinLevel     = 1
	MaxLevel     = 9
	DefaultLevel = 1
)

// Compressor compresses whole messages, one at a time. Pools lend them;
// one is not safe for concurrent use.
type Compressor struct {
	fw   *flate.Writer
	bits uint8
	out  appendWriter
}

// appendWriter is where a Compressor's output goes: the caller's slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func newCompressor(level int, bits uint8) *Compressor {
	c := &Compressor{bits: bits}
	if bits < codec.MaxWindowBits {
		// 1<<8 to 1<<14, all within [MinCustomWindowSize, MaxCustomWindowSize].
		c.fw, _ = flate.NewWriterWindow(&c.out, 1<<bits)
	} else {
		c.fw, _ = flate.NewWriter(&c.out, level) // level is checked by NewPool
	}
	return c
}

// Bits is the window size the compressor keeps to: 1<<Bits bytes.
func (c *Compressor) Bits() uint8 { return c.bits }

// Append compresses msg as one message and appends its payload to dst:
// DEFLATE blocks ending in a sync flush, whose final 0x00 0x00 0xff 0xff
// are left off (RFC 7692 §7.2.1). dict is the context: for a direction
// that takes over its context, the last bytes of the messages before
// (Window.Bytes), which the peer's inflater holds; nil otherwise.
// Nothing is allocated when dst has room.
func (c *Compressor) Append(dst, msg, dict []byte) []byte {
	c.out.b = dst
	// ResetDict(w, nil) is a plain reset. Reset would put back the last
	// dictionary: the writer remembers it.
	c.fw.ResetDict(&c.out, dict)
	// Writes to an appendWriter cannot fail, so neither can these.
	_, _ = c.fw.Write(msg)
	_ = c.fw.Flush()
	b := c.out.b
	c.out.b = nil
	return b[:len(b)-len(syncTail)]
}

// syncTail ends every sync flush: an empty stored block.
var syncTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// Pool lends compressors of one level, at most max at a time. Past that
// Get returns nil and the caller sends the message uncompressed, which
// RFC 7692 lets every message choose: memory stays bounded under any
// load and no sender ever waits. Idle compressors wait in a sync.Pool per
// window size, so the garbage collector takes them back once compression
// stops. Safe for concurrent use.
type Pool struct {
	level   int
	max     int32
	lent    atomic.Int32
	lends   atomic.Uint64
	refused atomic.Uint64
	idle    [codec.MaxWindowBits + 1]sync.Pool
}

// NewPool returns a pool of compressors at level (MinLevel to MaxLevel;
// others mean DefaultLevel) lending at most limit at once (at least 1).
func NewPool(level, limit int) *Pool {
	if level < MinLevel || level > MaxLevel {
		level = DefaultLevel
	}
	return &Pool{level: level, max: int32(max(limit, 1))}
}

// Level is the pool's compression level.
func (p *Pool) Level() int { return p.level }

// Get lends a compressor for a window of 1<<bits bytes (8 to 15; others
// mean 15), or returns nil when max are lent already.
func (p *Pool) Get(bits uint8) *Compressor {
	if p.lent.Add(1) > p.max {
		p.lent.Add(-1)
		p.refused.Add(1)
		return nil
	}
	p.lends.Add(1)
	bits = bitsOr15(bits)
	if c, ok := p.idle[bits].Get().(*Compressor); ok {
		return c
	}
	return newCompressor(p.level, bits)
}

// Put gives back a compressor Get lent.
func (p *Pool) Put(c *Compressor) {
	p.idle[c.bits].Put(c)
	p.lent.Add(-1)
}

// Refused counts the times Get found every compressor lent.
func (p *Pool) Refused() uint64 { return p.refused.Load() }

// Lends counts the compressors Get lent: one per message compressed.
func (p *Pool) Lends() uint64 { return p.lends.Load() }
