package conn

import (
	"sync/atomic"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// A message that arrives over several reads is reassembled in pooled
// buffers that grow with the bytes received, never with the length
// announced. Up to ChunkSize it is one buffer, grown by doubling; past
// that it is a list of ChunkSize buffers, joined once when the message
// is complete. Doubling one buffer all the way would leave a trail of
// smaller buffers behind it (as much again as the message, until the
// collector runs); chunks leave none, so what a connection holds is what
// it received, rounded up to a chunk, and that is what the server-wide
// budget counts.

// ChunkSize is the size of the buffers a large message is gathered in.
const ChunkSize = 64 << 10

// ErrPartialBudget fails a connection whose message, still arriving,
// needs more memory while the server-wide budget for such messages is
// spent. 1013 (try again later): the server is busy, the message itself
// may be fine.
var ErrPartialBudget = &codec.ProtocolError{Code: codec.StatusTryAgain, Reason: "server busy: too much data in unfinished messages"}

// Budget bounds memory that many connections draw from: the bytes held in
// messages being reassembled, server-wide. A peer can announce a large
// message and send it slowly; the message deadline bounds how long, this
// bounds how much all of them hold at once. Safe for concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes; limit <= 0 means unbounded.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used is the memory drawn now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// charge draws n bytes and reports whether the budget still holds. It
// draws even when it reports false: the caller fails the connection,
// whose release gives everything back. Connections of several shards may
// pass the limit together by one chunk each.
func (b *Budget) charge(n int64) bool {
	if b == nil {
		return true
	}
	used := b.used.Add(n)
	return b.limit <= 0 || used <= b.limit
}

func (b *Budget) give(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}

// msgCost is what one reassembly buffer holds: its capacity and header.
func msgCost(b *bufpool.Buf) int64 {
	if b == nil {
		return 0
	}
	return int64(cap(b.B)) + bufHeader
}

// chunks returns the full chunks of c's message; the list lives in the
// shard's table (Config is the shard thread's), since few connections
// ever have one and a field would cost every connection 8 bytes.
func (c *Conn) chunks() []*bufpool.Buf { return c.cfg.chunks[c] }

// appendMsg adds p to the message being reassembled, drawing what that
// takes from the partial-message budget. It reports false, failing the
// connection with ErrPartialBudget, when the budget is spent.
func (c *Conn) appendMsg(p []byte) bool {
	for len(p) > 0 {
		if c.msg == nil || len(c.msg.B) == cap(c.msg.B) {
			if !c.growMsg(len(p)) {
				return false
			}
		}
		n := min(len(p), cap(c.msg.B)-len(c.msg.B))
		c.msg.B = append(c.msg.B, p[:n]...)
		p = p[n:]
	}
	return true
}

// growMsg makes room for up to n more bytes: the current buffer doubled
// while under ChunkSize, else a new chunk.
func (c *Conn) growMsg(n int) bool {
	old := msgCost(c.msg)
	switch {
	case c.msg == nil:
		c.msg = bufpool.Get(min(n, ChunkSize))
	case cap(c.msg.B) < ChunkSize:
		c.msg = bufpool.Grow(c.msg, min(n, ChunkSize-len(c.msg.B)))
	default:
		if c.cfg.chunks == nil {
			c.cfg.chunks = make(map[*Conn][]*bufpool.Buf)
		}
		c.cfg.chunks[c] = append(c.cfg.chunks[c], c.msg)
		c.msg, old = bufpool.Get(ChunkSize), 0
	}
	if !c.cfg.Partial.charge(msgCost(c.msg) - old) {
		c.Fail(ErrPartialBudget)
		return false
	}
	return true
}

// takeMsg hands the reassembled message over in one buffer, joining its
// chunks, and ends its charge. It returns nil if no byte was received.
func (c *Conn) takeMsg() *bufpool.Buf {
	b := c.msg
	c.msg = nil
	c.cfg.Partial.give(msgCost(b))
	list := c.chunks()
	if list == nil {
		return b
	}
	total := len(b.B)
	for _, ch := range list {
		total += len(ch.B)
	}
	whole := bufpool.Get(total)
	for _, ch := range list {
		whole.B = append(whole.B, ch.B...)
		c.cfg.Partial.give(msgCost(ch))
		ch.Release()
	}
	whole.B = append(whole.B, b.B...)
	b.Release()
	delete(c.cfg.chunks, c)
	return whole
}

// dropMsg releases a half-read message.
func (c *Conn) dropMsg() {
	if c.msg != nil {
		c.cfg.Partial.give(msgCost(c.msg))
		c.msg.Release()
		c.msg = nil
	}
	for _, ch := range c.chunks() {
		c.cfg.Partial.give(msgCost(ch))
		ch.Release()
	}
	if c.cfg.chunks != nil {
		delete(c.cfg.chunks, c)
	}
}
