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
// Its size is part of every frame's charge (FrameOverhead).
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
	low  int // fewest cached since the last Trim: nodes nobody needed
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
	nc.low = min(nc.low, nc.n)
	return n
}

// Len is the number of nodes cached.
func (nc *NodeCache) Len() int { return nc.n }

// Trim gives the garbage collector the nodes that stayed in the cache,
// unused, since the last Trim, and returns how many. Called every few
// seconds, it keeps what the traffic needs and lets a burst's nodes go.
func (nc *NodeCache) Trim() int {
	drop := nc.low
	for i := 0; i < drop; i++ {
		n := nc.free
		nc.free, n.next = n.next, nil
	}
	nc.n -= drop
	nc.low = nc.n
	return drop
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

// Sizes of the allocations around a buffer's bytes, each a whole Go size
// class; a test holds them to the real types.
const (
	nodeSize  = 32 // outNode
	bufHeader = 32 // bufpool.Buf
)

// FrameOverhead is what a queued frame costs beyond its buffer's
// capacity: its queue node and its buffer's header.
const FrameOverhead = nodeSize + bufHeader

// Cost is the memory a queued frame holds: its buffer's whole capacity,
// not its length, plus the node and header around it. This is what the
// outbound limit counts. A frame shared by many connections is charged in
// full to each: any one of them alone can keep it alive.
func Cost(b *bufpool.Buf) int64 { return int64(cap(b.B)) + FrameOverhead }

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

// pop removes the head frame and returns its cost.
func (q *outQueue) pop(nc *NodeCache) int64 {
	n := q.head
	q.head = n.next
	if q.head == nil {
		q.tail = nil
	}
	if q.lastPong == n {
		q.lastPong = nil
	}
	cost := Cost(n.buf)
	n.buf.Release()
	nc.put(n)
	return cost
}

// dropUnstarted removes every frame not yet begun and returns their cost.
func (q *outQueue) dropUnstarted(nc *NodeCache) int64 {
	var dropped int64
	keep := q.head
	if keep == nil {
		return 0
	}
	if keep.off == 0 {
		return q.clear(nc)
	}
	for n := keep.next; n != nil; {
		next := n.next
		dropped += Cost(n.buf)
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

// clear empties the queue and returns the cost of what it held.
func (q *outQueue) clear(nc *NodeCache) int64 {
	var left int64
	for q.head != nil {
		left += q.pop(nc)
	}
	return left
}

// Enqueue appends a data frame whose Cost was reserved with Admit. The
// connection takes over b's reference. After this side's close frame
// nothing may be sent: the frame is released and ErrClosed returned. A
// connection whose input has ended but whose close is still pending
// takes frames: they are the answers that must precede the close.
func (c *Conn) Enqueue(b *bufpool.Buf) error {
	if c.closeSent || c.state == StateClosed {
		c.queued.Add(-Cost(b))
		b.Release()
		return ErrClosed
	}
	if c.ext.negotiated() && !c.ext.sharesFrames() {
		b = c.compressQueued(b)
	}
	c.out.push(c.cfg.Nodes, b, false)
	return nil
}

// WritesDirect reports whether a frame for c may go to the socket at once,
// bypassing the queue: nothing is queued or admitted ahead of it, c has
// not sent its close, and its frames need no encoding of their own
// (compression with context takeover). Only the owning shard may act on
// it, before anything else touches c.
func (c *Conn) WritesDirect() bool {
	return c.out.head == nil && c.queued.Load() == 0 && !c.closeSent &&
		c.state != StateClosed && c.state != StateHandshake &&
		(!c.ext.negotiated() || c.ext.sharesFrames())
}

// EnqueueRest queues what a direct write left of b: b's bytes from off
// on. c takes over b's reference. WritesDirect must have held. Owning
// shard only, like WritesDirect.
func (c *Conn) EnqueueRest(b *bufpool.Buf, off int) {
	c.queued.Add(Cost(b))
	n := c.out.push(c.cfg.Nodes, b, false)
	n.off = off
}

// QueueRaw appends bytes that are not a frame: the opening handshake's
// response, which must leave before any frame. Like control frames they
// bypass the outbound limit; the connection takes over b's reference.
func (c *Conn) QueueRaw(b *bufpool.Buf) {
	c.queued.Add(Cost(b))
	c.out.push(c.cfg.Nodes, b, false)
}

// queueControl appends a control frame. Control frames bypass the
// outbound limit: a close or pong must never be refused. Each kind is
// bounded by the protocol: one close, one unanswered ping of ours, one
// waiting pong (queuePong).
func (c *Conn) queueControl(op codec.Opcode, payload []byte) {
	b := bufpool.Get(codec.MaxHeaderSize + len(payload))
	b.B = c.appendFrame(b.B, op, payload)
	c.queued.Add(Cost(b))
	n := c.out.push(c.cfg.Nodes, b, op == codec.OpPong)
	if op == codec.OpPong {
		c.out.lastPong = n
		c.pongs++
	}
}

// MaxWaitingPongs bounds the pongs a connection holds unwritten: a peer
// that pings without reading costs at most this many small buffers
// (about 5 KiB in all), whatever the outbound limit. It is more than one
// so that a burst of pings from a peer that does read is answered ping
// for ping, as peers expect (Autobahn 2.10 sends ten in one write).
const MaxWaitingPongs = 16

// queuePong answers a ping. Once MaxWaitingPongs wait, a newer ping's
// answer replaces the payload of the newest pong not yet begun, which
// RFC 6455 §5.5.3 allows ("an endpoint MAY elect to send a Pong frame
// for only the most recently processed Ping frame"). A peer that pings
// without reading so costs a few small buffers, not one per ping.
func (c *Conn) queuePong(payload []byte) {
	if last := c.out.lastPong; last != nil && last.off == 0 && c.pongs >= MaxWaitingPongs {
		// The buffer's capacity (and so its charge) does not change: a
		// control frame always fits the smallest class.
		last.buf.B = c.appendFrame(last.buf.B[:0], codec.OpPong, payload)
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
// took them, releasing every frame that is now fully written; a frame's
// charge ends with it, not byte by byte, since its buffer is held until
// its last byte is out.
func (c *Conn) Written(n int) {
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
		if h.pong {
			c.pongs--
		}
		c.queued.Add(-c.out.pop(c.cfg.Nodes))
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
