package shard

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/reactor"
)

// SlowPolicy is what a shard does with a connection whose outbound queue
// is at its limit when a published frame arrives for it.
type SlowPolicy uint8

const (
	// SlowEvict closes the connection with 1008 (policy violation): its
	// unsent frames are dropped and the close goes out next.
	SlowEvict SlowPolicy = iota
	// SlowDrop skips the published frame for that connection only and
	// counts it: for feeds where the newest value wins.
	SlowDrop
)

// Registry counts, per topic and per shard, the subscriptions that may
// exist, so that a publish reaches only the shards that hold some and a
// publish to a topic nobody holds costs one map lookup. Safe for
// concurrent use.
//
// Counts are an upper bound: Subscribe counts before it posts to the
// shard (so a publish that follows it from the same goroutine is never
// skipped), and the shard gives the count back when the subscription
// turns out to be a duplicate, ends, or never took effect.
type Registry struct {
	shards int
	topics sync.Map // string -> *topicEntry

	// OnFirst and OnLast, if set, are told when a topic gains its first
	// possible subscriber on this node and loses its last: the hooks for
	// a broker to follow the topics this node needs. They run with the
	// topic's lock held and must not block.
	OnFirst func(topic string)
	OnLast  func(topic string)
}

type topicEntry struct {
	mu     sync.Mutex
	total  int            // under mu
	dead   bool           // removed from the map; acquire must start over
	counts []atomic.Int32 // per shard, read without the lock by Publish
}

// NewRegistry returns a registry for a server of n shards.
func NewRegistry(n int) *Registry { return &Registry{shards: n} }

// acquire counts one possible subscription of topic on shard.
func (r *Registry) acquire(topic string, shard int) {
	for {
		v, ok := r.topics.Load(topic)
		if !ok {
			v, _ = r.topics.LoadOrStore(topic, &topicEntry{counts: make([]atomic.Int32, r.shards)})
		}
		e := v.(*topicEntry)
		e.mu.Lock()
		if e.dead {
			e.mu.Unlock()
			continue
		}
		e.total++
		e.counts[shard].Add(1)
		if e.total == 1 && r.OnFirst != nil {
			r.OnFirst(topic)
		}
		e.mu.Unlock()
		return
	}
}

// release gives back one count taken by acquire.
func (r *Registry) release(topic string, shard int) {
	v, ok := r.topics.Load(topic)
	if !ok {
		return
	}
	e := v.(*topicEntry)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total--
	e.counts[shard].Add(-1)
	if e.total == 0 {
		e.dead = true
		r.topics.Delete(topic)
		if r.OnLast != nil {
			r.OnLast(topic)
		}
	}
}

// Shards calls fn for each shard that may hold subscribers of topic and
// reports whether there was any. It allocates nothing.
func (r *Registry) Shards(topic string, fn func(shard int)) bool {
	v, ok := r.topics.Load(topic)
	if !ok {
		return false
	}
	e := v.(*topicEntry)
	found := false
	for i := range e.counts {
		if e.counts[i].Load() > 0 {
			found = true
			fn(i)
		}
	}
	return found
}

// subscribers is one topic's subscribers on one shard. Removal swaps the
// last into the hole, so every subscription remembers its index.
type subscribers struct {
	conns []*Conn
}

// subscription is one topic of one conn: where it sits in the set.
type subscription struct {
	topic string
	set   *subscribers
	index int
}

// Subscribe adds c to topic's subscribers. Safe from any goroutine; a
// Publish that follows it from the same goroutine reaches c.
func (s *Shard) Subscribe(c *Conn, topic string) error {
	if c.ending.Load() {
		return conn.ErrClosed
	}
	s.cfg.Registry.acquire(topic, s.id)
	if err := s.post(command{kind: cmdSubscribe, c: c, reason: topic}); err != nil {
		s.cfg.Registry.release(topic, s.id)
		return conn.ErrClosed
	}
	return nil
}

// SubscribeNow adds c to topic's subscribers at once. It is for the
// shard's own thread, in a hook that runs there (Hooks.Upgrade): a
// connection subscribed while its handshake is accepted is subscribed
// before it opens, so no publish made after that can miss it.
func (s *Shard) SubscribeNow(c *Conn, topic string) {
	s.cfg.Registry.acquire(topic, s.id)
	s.subscribe(c, topic)
}

// Unsubscribe removes c from topic's subscribers.
func (s *Shard) Unsubscribe(c *Conn, topic string) error {
	return s.post(command{kind: cmdUnsubscribe, c: c, reason: topic})
}

// Publish queues one encoded frame for this shard's subscribers of topic
// (or, with all, for every open conn of the shard), except one conn if
// except is non-nil. deflated, if not nil, is the same message
// compressed with no context and a full window, for the conns that
// negotiated permessage-deflate so (conn.SharesCompressed). The shard
// takes over one reference of b and of deflated.
func (s *Shard) Publish(topic string, all bool, b, deflated *bufpool.Buf, except *Conn) error {
	kind := cmdPublish
	if all {
		kind = cmdBroadcast
	}
	if err := s.post(command{kind: kind, reason: topic, buf: b, deflated: deflated, c: except}); err != nil {
		b.Release()
		if deflated != nil {
			deflated.Release()
		}
		return err
	}
	return nil
}

func (s *Shard) subscribe(c *Conn, topic string) {
	if c.Closed() || c.Ending() || c.subscribed(topic) >= 0 {
		s.cfg.Registry.release(topic, s.id)
		return
	}
	set := s.topics[topic]
	if set == nil {
		set = &subscribers{}
		s.topics[topic] = set
	}
	if c.subs == nil {
		c.subs = new([]subscription)
	}
	*c.subs = append(*c.subs, subscription{topic: topic, set: set, index: len(set.conns)})
	set.conns = append(set.conns, c)
}

func (s *Shard) unsubscribe(c *Conn, topic string) {
	if i := c.subscribed(topic); i >= 0 {
		s.removeSub(c, i)
	}
}

// unsubscribeAll ends every subscription of a conn that is closing.
func (s *Shard) unsubscribeAll(c *Conn) {
	for n := len(c.subList()); n > 0; n-- {
		s.removeSub(c, n-1)
	}
	c.subs = nil
}

// removeSub removes c's i-th subscription from its topic's set.
func (s *Shard) removeSub(c *Conn, i int) {
	subs := *c.subs
	sub := subs[i]
	set := sub.set
	last := len(set.conns) - 1
	if moved := set.conns[last]; sub.index != last {
		set.conns[sub.index] = moved
		(*moved.subs)[moved.subscribed(sub.topic)].index = sub.index
	}
	set.conns[last] = nil
	set.conns = set.conns[:last]
	if len(set.conns) == 0 {
		delete(s.topics, sub.topic)
	}
	last = len(subs) - 1
	subs[i] = subs[last]
	subs[last] = subscription{}
	*c.subs = subs[:last]
	s.cfg.Registry.release(sub.topic, s.id)
}

// subList is c's subscriptions. They are kept behind a pointer: most
// conns of a server without topics have none, and a slice inline would
// cost each of them 16 bytes more.
func (c *Conn) subList() []subscription {
	if c.subs == nil {
		return nil
	}
	return *c.subs
}

// subscribed returns the index of topic in c's subscriptions, or -1.
func (c *Conn) subscribed(topic string) int {
	subs := c.subList()
	for i := range subs {
		if subs[i].topic == topic {
			return i
		}
	}
	return -1
}

// fanOut queues one shared frame on every target conn: a reference, not a
// copy, and each conn's frames leave in one writev at the end of the pass.
func (s *Shard) fanOut(cmd *command, all bool) {
	b, deflated := cmd.buf, cmd.deflated
	if all {
		s.conns.each(func(c *Conn) {
			if c != cmd.c && c.State() == conn.StateOpen {
				s.offer(c, b, deflated)
			}
		})
	} else if set := s.topics[cmd.reason]; set != nil {
		for _, c := range set.conns {
			if c != cmd.c {
				s.offer(c, b, deflated)
			}
		}
	}
	b.Release()
	if deflated != nil {
		deflated.Release()
	}
}

// offer queues b on c, or its compressed variant deflated if there is
// one and c takes it, or applies the slow-consumer policy when c's queue
// is at its limit. The publisher never waits for a slow conn. A conn
// that compresses with a context of its own gets b, which it compresses
// as it queues it.
func (s *Shard) offer(c *Conn, b, deflated *bufpool.Buf) {
	if c.Ending() {
		return
	}
	if deflated != nil && c.SharesCompressed() {
		b = deflated
	}
	if s.direct && s.writeDirect(c, b) {
		return
	}
	if c.Role() == codec.RoleClient {
		b = maskedCopy(b)
	} else {
		b.Ref()
	}
	if !c.Admit(conn.Cost(b)) {
		b.Release()
		s.slow(c)
		return
	}
	if c.Enqueue(b) == nil {
		s.stats.msgsOut.Add(1)
		s.unflushed++
		s.markDirty(c)
	}
}

// maskedCopy re-encodes a shared server frame for a connection this side
// dialed: a client masks every frame with its own fresh key (RFC 6455
// §5.3), so such a frame cannot be shared.
func maskedCopy(shared *bufpool.Buf) *bufpool.Buf {
	h, n, _ := codec.DecodeHeader(shared.B)
	h.Masked = true
	h.Mask = maskKey()
	b := bufpool.Get(len(shared.B) + 4)
	b.B = codec.AppendFrame(b.B, h, shared.B[n:]) // RSV1 kept, for a compressed one
	return b
}

func (s *Shard) slow(c *Conn) {
	if s.cfg.SlowPolicy == SlowDrop {
		s.stats.slowDrops.Add(1)
		if s.hooks.Slow != nil {
			s.hooks.Slow(c, false)
		}
		return
	}
	s.stats.slowEvictions.Add(1)
	c.ending.Store(true)
	if c.Evict(codec.StatusPolicy, "slow consumer") == nil {
		s.after(c)
	}
	if s.hooks.Slow != nil {
		s.hooks.Slow(c, true)
	}
}

// maskKey is a fresh masking key (RFC 6455 §5.3).
func maskKey() [4]byte {
	k := rand.Uint32()
	return [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
}

// writeDirect sends a shared frame to a subscriber with nothing queued
// straight from the shared buffer, and reports whether it is taken care
// of (written, queued in part, or the connection ended). When one
// publish is all a pass has, queueing it on each subscriber to gather it
// again at the end of the pass only adds work: a node taken from the
// cache and linked, and both read back from memory thousands of
// connections later, when the CPU cache no longer holds them. With
// several publishes in a pass, queueing lets each subscriber's frames
// leave in one writev, which costs less than a write each.
func (s *Shard) writeDirect(c *Conn, b *bufpool.Buf) bool {
	if c.Role() == codec.RoleClient || !c.WritesDirect() || c.detached || s.secureOf(c) != nil {
		return false
	}
	n, err := reactor.Write(int(c.fd), b.B)
	if err != nil && !reactor.IsAgain(err) {
		s.finish(c, conn.ErrPeerGone)
		return true
	}
	s.stats.msgsOut.Add(1)
	s.stats.bytesOut.Add(uint64(n))
	if n < len(b.B) {
		b.Ref()
		c.EnqueueRest(b, n)
		s.unflushed++
		s.markDirty(c)
	}
	return true
}
