package shoal

import (
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/shard"
)

// SlowPolicy is what happens to a subscriber whose outbound queue is full
// when a published message arrives for it. The publisher never waits.
type SlowPolicy uint8

const (
	// EvictSlow closes the subscriber with 1008 (policy violation); its
	// unsent messages are dropped. The default: a subscriber never
	// silently misses a message.
	EvictSlow SlowPolicy = iota
	// DropSlow skips the message for that subscriber only, counting it
	// in Stats.SlowDrops: for feeds where the newest value wins (prices,
	// positions, presence).
	DropSlow
)

// Subscribe adds c to topic's subscribers. A connection may hold many
// topics, and a topic every connection. Subscriptions end with the
// connection. Safe from any goroutine: a Publish that follows Subscribe
// on the same goroutine reaches c.
func (s *Server) Subscribe(c *Conn, topic string) error {
	return c.sc.Shard().Subscribe(&c.sc, topic)
}

// Unsubscribe removes c from topic's subscribers.
func (s *Server) Unsubscribe(c *Conn, topic string) error {
	return c.sc.Shard().Unsubscribe(&c.sc, topic)
}

// Publish sends a message to every subscriber of topic. The frame is
// encoded once and shared by reference by every subscriber's queue; each
// shard writes to its own subscribers. Messages published by one
// goroutine reach every subscriber in publish order, also relative to
// that goroutine's Sends. A topic with no subscribers costs a map lookup.
// data is copied: the caller may reuse it at once.
func (s *Server) Publish(topic string, t MessageType, data []byte) error {
	return s.PublishExcept(topic, t, data, nil)
}

// PublishExcept is Publish skipping one connection, typically the sender.
func (s *Server) PublishExcept(topic string, t MessageType, data []byte, except *Conn) error {
	if s.isClosing() {
		return ErrServerClosed
	}
	s.publishLocal(topic, t, data, except)
	if s.cfg.Broker != nil {
		return s.cfg.Broker.Publish(topic, t, data)
	}
	return nil
}

// Broadcast sends a message to every open connection of the server.
func (s *Server) Broadcast(t MessageType, data []byte) error {
	if s.isClosing() {
		return ErrServerClosed
	}
	b, deflated := s.encodeShared(t, data)
	for _, sh := range s.shards {
		refs(b, deflated)
		sh.Publish("", true, b, deflated, nil)
	}
	release(b, deflated)
	return nil
}

// publishLocal fans a message out to this node's subscribers.
func (s *Server) publishLocal(topic string, t MessageType, data []byte, except *Conn) {
	var b, deflated *bufpool.Buf
	var skip *shard.Conn
	if except != nil {
		skip = &except.sc
	}
	s.registry.Shards(topic, func(i int) {
		if b == nil {
			b, deflated = s.encodeShared(t, data)
		}
		refs(b, deflated)
		s.shards[i].Publish(topic, false, b, deflated, skip)
	})
	if b != nil {
		release(b, deflated)
	}
}

// encodeShared encodes a server frame into a pooled buffer holding one
// reference, for the shards to share, and, with compression on, the same
// message compressed once, with no context: one plain and one compressed
// frame per message at most, whatever the number of subscribers. The
// compressed one is made whenever compression is enabled and the message
// is over the threshold, even if no subscriber turns out to take it:
// once per message, never per subscriber.
func (s *Server) encodeShared(t MessageType, data []byte) (plain, deflated *bufpool.Buf) {
	plain = bufpool.Get(codec.MaxHeaderSize + len(data))
	plain.B = conn.AppendFrame(plain.B, codec.RoleServer, codec.Opcode(t), data)
	if d := s.connCfg.Deflate; d != nil && len(data) >= d.Threshold {
		if comp := d.Pool.Get(codec.MaxWindowBits); comp != nil {
			deflated = bufpool.Get(codec.MaxHeaderSize + len(data)/2 + 64)
			deflated.B = conn.AppendCompressedFrame(deflated.B, comp, codec.RoleServer, codec.Opcode(t), data, nil)
			d.Pool.Put(comp)
		}
	}
	return plain, deflated
}

// refs takes one more reference on each frame of a message.
func refs(plain, deflated *bufpool.Buf) {
	plain.Ref()
	if deflated != nil {
		deflated.Ref()
	}
}

// release drops one reference on each frame of a message.
func release(plain, deflated *bufpool.Buf) {
	plain.Release()
	if deflated != nil {
		deflated.Release()
	}
}

// isClosing is read on every publish: an atomic, not the server's mutex.
func (s *Server) isClosing() bool { return s.closed.Load() }
