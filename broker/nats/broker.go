// Package nats is a shoal.Broker on NATS core: many shoal nodes share
// topics, so that a Publish on any node reaches the subscribers of every
// node, in the order each publisher published.
//
//	b, err := nats.New(nats.Options{URL: "nats://10.0.0.5:4222"})
//	srv, err := shoal.New(shoal.Config{Handler: h, Broker: b})
//
// Each topic is one NATS subject (the topic base64url-encoded under a
// prefix, so any topic string is a valid subject). A node subscribes to a
// topic's subject only while it has local subscribers of that topic. A
// message carries the publishing node's id; a node skips its own, which
// its local subscribers already got directly, without a round trip
// through NATS.
//
// Delivery guarantees are NATS core's: at most once. While this node is
// disconnected from NATS, its local subscribers still get its own
// publishes at once; its publishes are buffered by the NATS client (up to
// Options.ReconnectBuffer bytes) and sent when it reconnects; messages
// other nodes publish during the gap do not reach it. After a reconnect
// the client re-subscribes by itself. Messages from one publisher to one
// topic are never reordered or duplicated; one dropped for any reason is
// counted in Stats.
//
// An application that needs every message across outages, or a history
// to replay, needs a durable stream rather than this broker: the chat
// example (examples/chat) builds its rooms on NATS JetStream.
package nats

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/shoalws/shoal"
)

// Options configure a Broker. Only URL is required.
type Options struct {
	// URL of the NATS server(s), comma-separated: "nats://host:4222".
	URL string
	// Prefix of every subject this broker uses. Default "shoal". Nodes
	// that share topics must use the same prefix.
	Prefix string
	// Name is the NATS connection name, shown by the server's monitoring.
	Name string
	// ReconnectWait is the pause between reconnect attempts. Default 1s.
	ReconnectWait time.Duration
	// ReconnectBuffer bounds the bytes of publishes buffered while
	// disconnected; past it Publish fails. Default 8 MiB.
	ReconnectBuffer int
	// Logf, if set, is told of disconnects, reconnects and drops.
	Logf func(format string, args ...any)
}

// Stats are a broker's counters.
type Stats struct {
	Published  uint64 // messages sent to NATS
	Received   uint64 // messages from other nodes delivered locally
	Dropped    uint64 // messages NATS delivered that this node could not take
	Reconnects uint64
	Connected  bool
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("nats broker: closed")

// Broker is a shoal.Broker on a NATS connection. Its methods are safe for
// concurrent use.
type Broker struct {
	// immutable after New
	nc     *natsgo.Conn
	prefix string
	node   [8]byte // this node's id, first bytes of every payload
	logf   func(string, ...any)
	inbox  chan *natsgo.Msg // every subscription delivers here, in order
	done   chan struct{}

	mu      sync.Mutex
	subs    map[string]*natsgo.Subscription
	deliver func(topic string, t shoal.MessageType, data []byte)
	closed  bool

	published, received, dropped, reconnects atomic.Uint64
}

// header is the payload prefix: the node id, then the message type.
const header = 9

// New connects to NATS. The connection retries by itself for as long as
// the broker lives.
func New(opts Options) (*Broker, error) {
	if opts.Prefix == "" {
		opts.Prefix = "shoal"
	}
	if opts.ReconnectWait <= 0 {
		opts.ReconnectWait = time.Second
	}
	if opts.ReconnectBuffer <= 0 {
		opts.ReconnectBuffer = 8 << 20
	}
	b := &Broker{
		prefix: opts.Prefix,
		logf:   opts.Logf,
		inbox:  make(chan *natsgo.Msg, 64<<10),
		done:   make(chan struct{}),
		subs:   make(map[string]*natsgo.Subscription),
	}
	if b.logf == nil {
		b.logf = func(string, ...any) {}
	}
	rand.Read(b.node[:])
	nc, err := natsgo.Connect(opts.URL,
		natsgo.Name(opts.Name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(opts.ReconnectWait),
		natsgo.ReconnectBufSize(opts.ReconnectBuffer),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			b.logf("nats broker: disconnected: %v", err)
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			b.reconnects.Add(1)
			b.logf("nats broker: reconnected to %s", nc.ConnectedUrl())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				b.logf("nats broker: dropping messages: %v", err)
			}
		}),
	)
	if err != nil {
		return nil, err
	}
	b.nc = nc
	return b, nil
}

// Start begins delivering other nodes' messages to deliver, one at a
// time on one goroutine, in the order NATS delivers them.
func (b *Broker) Start(deliver func(topic string, t shoal.MessageType, data []byte)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.deliver != nil {
		return errors.New("nats broker: started twice")
	}
	b.deliver = deliver
	go b.run()
	return nil
}

func (b *Broker) run() {
	for {
		select {
		case m := <-b.inbox:
			b.handle(m)
		case <-b.done:
			return
		}
	}
}

func (b *Broker) handle(m *natsgo.Msg) {
	p := m.Data
	if len(p) < header || [8]byte(p[:8]) == b.node {
		return // malformed, or our own: local subscribers have it
	}
	topic, ok := b.topicOf(m.Subject)
	if !ok {
		return
	}
	b.received.Add(1)
	b.deliver(topic, shoal.MessageType(p[8]), p[header:])
}

// Publish sends a message to the other nodes.
func (b *Broker) Publish(topic string, t shoal.MessageType, data []byte) error {
	p := make([]byte, header+len(data))
	copy(p, b.node[:])
	p[8] = byte(t)
	copy(p[header:], data)
	if err := b.nc.Publish(b.subject(topic), p); err != nil {
		return err
	}
	b.published.Add(1)
	return nil
}

// Subscribe starts receiving topic's messages from other nodes.
func (b *Broker) Subscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.subs[topic]; ok {
		return nil
	}
	sub, err := b.nc.ChanSubscribe(b.subject(topic), b.inbox)
	if err != nil {
		return err
	}
	b.subs[topic] = sub
	return nil
}

// Unsubscribe stops receiving topic's messages.
func (b *Broker) Unsubscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sub, ok := b.subs[topic]
	if !ok {
		return nil
	}
	delete(b.subs, topic)
	b.dropped.Add(uint64(dropped(sub)))
	return sub.Unsubscribe()
}

// Conn returns the broker's NATS connection, for an application that
// wants to exchange its own messages (state, requests) over the same
// connection. Subjects under the broker's prefix are the broker's.
func (b *Broker) Conn() *natsgo.Conn { return b.nc }

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	drops := b.dropped.Load()
	for _, sub := range b.subs {
		drops += uint64(dropped(sub))
	}
	b.mu.Unlock()
	return Stats{
		Published:  b.published.Load(),
		Received:   b.received.Load(),
		Dropped:    drops,
		Reconnects: b.reconnects.Load(),
		Connected:  b.nc.IsConnected(),
	}
}

func dropped(sub *natsgo.Subscription) int {
	n, err := sub.Dropped()
	if err != nil {
		return 0
	}
	return n
}

// Close flushes what is buffered, for at most a second and only while
// connected (a buffer waiting for a reconnect is given up), and closes
// the connection.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	b.mu.Unlock()
	if b.nc.IsConnected() {
		b.nc.FlushTimeout(time.Second)
	}
	b.nc.Close()
	close(b.done)
	return nil
}

// subject maps a topic to its NATS subject: base64url keeps every topic
// within the characters a subject token allows (no '.', '*', '>', space).
func (b *Broker) subject(topic string) string {
	return b.prefix + ".t" + base64.RawURLEncoding.EncodeToString([]byte(topic))
}

func (b *Broker) topicOf(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, b.prefix+".t")
	if !ok {
		return "", false
	}
	t, err := base64.RawURLEncoding.DecodeString(rest)
	return string(t), err == nil
}

var _ shoal.Broker = (*Broker)(nil)
