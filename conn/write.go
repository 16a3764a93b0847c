package conn

import (
	"math/rand/v2"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// Gatherer collects buffers for one vectored write; reactor.Vec is one.
// Add reports false when it can take no more.
type Gatherer interface {
	Add(b []byte) bool
}

// outNode is one queued frame: a reference to its encoded bytes.
type outNode struct {
	buf  *bufpool.Buf
	off  int // bytes of buf already written
	next *outNode
	pong bool
}

// NodeCache recycles the nodes of outbound queues for the connections of
// one shard. A broadcast to many connections queues a node on each, so
// nodes come and go by the hundred thousand; a sync.Pool would be emptied
// by every GC cycle in such bursts and allocate again. Not safe for
// concurrent use: one shard thread owns it.
type NodeCache struct {
	free *outNode
	n    int
}

// maxCachedNodes bounds what a cache keeps after a burst (8 MiB of
// 32-byte nodes): room for a shard's bursts between writes.
const maxCachedNodes = 1 << 18

func (nc *NodeCache) get() *outNode {
	if nc == nil || nc.free == nil {
		return new(outNode)
	}
	n := nc.free
	nc.free, n.next = n.next, nil
	nc.n--
	return n
}

func (nc *NodeCache) put(n *outNode) {
	*n = outNode{}
	if nc == nil || nc.n >= maxCachedNodes {
		return
	}
	n.next = nc.free
	nc.free = n
	nc.n++
}

// outQueue is a FIFO of frames. A linked list of recycled nodes, so that
// an idle connection's queue is a few nil pointers.
type outQueue struct {
	head, tail *outNode
	lastPong   *outNode // newest pong not yet begun, for coalescing
}

// The queue's methods take the shard's node cache (Config.Nodes) rather
// than keep a pointer to it in every connection.

func (q *outQueue) push(nc *NodeCache, b *bufpool.Buf, pong bool) *outNode {
	n := nc.get()
	n.buf, n.off, n.next, n.pong = b, 0, nil, pong
	if q.tail == nil {
		q.head = n
	} else {
		q.tail.next = n
	}
	q.tail = n
	return n
}

func (q *outQueue) pop(nc *NodeCache) {
	n := q.head
	q.head = n.next
	if q.head == nil {
		q.tail = nil
	}
	if q.lastPong == n {
		q.lastPong = nil
	}
	n.buf.Release()
	nc.put(n)
}

// dropUnstarted removes every frame not yet begun and returns their bytes.
func (q *outQueue) dropUnstarted(nc *NodeCache) int64 {
	var dropped int64
	keep := q.head
	if keep == nil {
		return 0
	}
	if keep.off == 0 {
		dropped = q.clear(nc)
		return dropped
	}
	for n := keep.next; n != nil; {
		next := n.next
		dropped += int64(len(n.buf.B))
		n.buf.Release()
		nc.put(n)
		n = next
	}
	keep.next = nil
	q.tail = keep
	if q.lastPong != keep {
		q.lastPong = nil
	}
	return dropped
}

// clear empties the queue and returns the unwritten bytes it held.
func (q *outQueue) clear(nc *NodeCache) int64 {
	var left int64
	for q.head != nil {
		left += int64(len(q.head.buf.B) - q.head.off)
		q.pop(nc)
	}
	return left
}

// Enqueue appends a data frame whose bytes were reserved with Admit. The
// connection takes over b's reference. After this side's close frame
// nothing may be sent: the frame is released and ErrClosed returned. A
// connection whose input has ended but whose close is still pending
// takes frames: they are the answers that must precede the close.
func (c *Conn) Enqueue(b *bufpool.Buf) error {
	if c.closeSent || c.state == StateClosed {
		c.queued.Add(-int64(len(b.B)))
		b.Release()
		return ErrClosed
	}
	c.out.push(c.cfg.Nodes, b, false)
	return nil
}

// queueRaw appends bytes that are not a frame (handshake responses). They
// bypass the outbound limit.
func (c *Conn) queueRaw(b *bufpool.Buf) {
	c.queued.Add(int64(len(b.B)))
	c.out.push(c.cfg.Nodes, b, false)
}

// queueControl appends a control frame. Control frames bypass the
// outbound limit: a close or pong must never be refused.
func (c *Conn) queueControl(op codec.Opcode, payload []byte) {
	b := bufpool.Get(codec.MaxHeaderSize + len(payload))
	b.B = c.appendFrame(b.B, op, payload)
	c.queued.Add(int64(len(b.B)))
	n := c.out.push(c.cfg.Nodes, b, op == codec.OpPong)
	if op == codec.OpPong {
		c.out.lastPong = n
	}
}

// queuePong answers a ping. A peer that pings without reading would grow
// the queue without bound, so past the outbound limit the newest pong
// replaces the last one not yet begun, which RFC 6455 §5.5.3 allows: "an
// endpoint MAY elect to send a Pong frame for only the most recently
// processed Ping frame".
func (c *Conn) queuePong(payload []byte) {
	last := c.out.lastPong
	if last != nil && last.off == 0 && c.queued.Load() > c.cfg.MaxOutboundBytes() {
		old := int64(len(last.buf.B))
		last.buf.B = c.appendFrame(last.buf.B[:0], codec.OpPong, payload)
		c.queued.Add(int64(len(last.buf.B)) - old)
		return
	}
	c.queueControl(codec.OpPong, payload)
}

// appendFrame encodes a whole frame in this connection's role: a client
// masks every frame with a fresh key (RFC 6455 §5.3), a server never does.
func (c *Conn) appendFrame(dst []byte, op codec.Opcode, payload []byte) []byte {
	return AppendFrame(dst, c.role, op, payload)
}

// AppendFrame encodes one unfragmented frame as role would send it.
func AppendFrame(dst []byte, role codec.Role, op codec.Opcode, payload []byte) []byte {
	h := codec.Header{Fin: true, Op: op}
	if role == codec.RoleClient {
		h.Masked = true
		k := rand.Uint32()
		h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	}
	return codec.AppendFrame(dst, h, payload)
}

// HasOutput reports whether bytes wait to be written.
func (c *Conn) HasOutput() bool { return c.out.head != nil }

// Gather adds the queued bytes, in order, to g until it is full.
func (c *Conn) Gather(g Gatherer) {
	for n := c.out.head; n != nil; n = n.next {
		if !g.Add(n.buf.B[n.off:]) {
			return
		}
	}
}

// Written consumes n bytes from the front of the queue after the kernel
// took them, releasing every frame that is now fully written.
func (c *Conn) Written(n int) {
	c.queued.Add(-int64(n))
	for n > 0 && c.out.head != nil {
		h := c.out.head
		rest := len(h.buf.B) - h.off
		if n < rest {
			h.off += n
			if c.out.lastPong == h {
				c.out.lastPong = nil
			}
			return
		}
		n -= rest
		c.out.pop(c.cfg.Nodes)
	}
}

// Ping queues a ping with payload (at most 125 bytes; longer is cut) if
// the connection is open.
func (c *Conn) Ping(payload []byte) {
	if c.state != StateOpen || c.closeSent {
		return
	}
	c.queueControl(codec.OpPing, payload[:min(len(payload), codec.MaxControlPayload)])
}
