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
	b := encodeShared(t, data)
	for _, sh := range s.shards {
		b.Ref()
		sh.Publish("", true, b, nil)
	}
	b.Release()
	return nil
}

// publishLocal fans a message out to this node's subscribers.
func (s *Server) publishLocal(topic string, t MessageType, data []byte, except *Conn) {
	var b *bufpool.Buf
	var skip *shard.Conn
	if except != nil {
		skip = &except.sc
	}
	s.registry.Shards(topic, func(i int) {
		if b == nil {
			b = encodeShared(t, data)
		}
		b.Ref()
		s.shards[i].Publish(topic, false, b, skip)
	})
	if b != nil {
		b.Release()
	}
}

// encodeShared encodes a server frame into a pooled buffer holding one
// reference, for the shards to share.
func encodeShared(t MessageType, data []byte) *bufpool.Buf {
	b := bufpool.Get(codec.MaxHeaderSize + len(data))
	b.B = conn.AppendFrame(b.B, codec.RoleServer, codec.Opcode(t), data)
	return b
}

// isClosing is read on every publish: an atomic, not the server's mutex.
func (s *Server) isClosing() bool { return s.closed.Load() }
