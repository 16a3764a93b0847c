package shoal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/mailbox"
	"github.com/shoalws/shoal/reactor"
	"github.com/shoalws/shoal/shard"
)

// Config configures a Server. The zero value of every field but Handler
// is a sensible default.
type Config struct {
	// Addr is where ListenAndServe and Listen listen, host:port.
	Addr string
	// Handler receives every connection's life. Required.
	Handler Handler

	// Shards is the number of reactor threads. Default: one less than
	// GOMAXPROCS, at least one. A shard waiting for events sits in a
	// system call holding a P; with a P to spare, the Go scheduler leaves
	// it there instead of handing the P to another thread at every wait,
	// and the spare runs the worker pool and the garbage collector.
	Shards int
	// Workers bounds the goroutines that run handlers. Default 256.
	Workers int
	// Inline runs handlers on the shard threads instead of the worker
	// pool: no hand-off, the lowest latency and CPU, but a handler that
	// blocks stalls every connection of its shard. Only for handlers that
	// never block (echo, fan-out, routing to channels).
	Inline bool
	// MailboxSize is how many messages of one connection may wait for its
	// handler before the shard stops reading that connection. Default 64,
	// at most 32767.
	MailboxSize int
	// MaxInbound bounds the memory that messages waiting for one
	// connection's handler may hold (buffer capacity, not payload
	// length): past it the shard stops reading that connection until the
	// handler catches up. One message is always taken, however large.
	// Default 1 MiB.
	MaxInbound int64

	// MaxMessageSize is the largest message accepted; a larger one closes
	// the connection with 1009 before it is buffered. Default 1 MiB, at
	// most 1 GiB.
	MaxMessageSize int64
	// MaxOutbound bounds the memory queued for sending to one connection:
	// every frame counts its buffer's capacity and bookkeeping (an empty
	// pong costs 320 bytes, not 2). Past it Send returns ErrOutboundFull,
	// published messages meet the SlowConsumer policy, and the shard stops
	// reading the connection until the peer has read half of it. Default
	// 1 MiB. DESIGN.md gives the whole per-connection bound.
	MaxOutbound int64
	// MaxPartialBytes bounds, server-wide, the memory held by messages
	// that are still arriving (a peer may announce a large message and
	// send it slowly). A connection whose message would pass it is closed
	// with 1013 (try again later). Messages that arrive whole in one read
	// never count. Default 64 MiB; negative: no bound.
	MaxPartialBytes int64
	// MaxHeaderBytes bounds the opening handshake; past it the answer is
	// 431. Default 8 KiB.
	MaxHeaderBytes int

	// HandshakeTimeout bounds accept-to-upgraded. Default 10s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes (1001) a connection that sent nothing for this
	// long. Zero: never.
	IdleTimeout time.Duration
	// PingInterval sends a ping to a connection that sent nothing for
	// this long; if nothing comes back within PongTimeout (default: the
	// interval) the connection is dropped. Zero: no pings.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// CloseTimeout bounds the close handshake. Default 5s.
	CloseTimeout time.Duration
	// MessageTimeout bounds how long a peer may take to finish a message
	// (or a frame) it has begun, from its first byte: past it the
	// connection is closed with 1008. Default 30s; negative: no bound.
	MessageTimeout time.Duration
	// WriteTimeout drops a connection whose waiting output has not moved
	// for this long: its peer is gone or does not read. Default 30s;
	// negative: no bound.
	WriteTimeout time.Duration
	// ReusePort lets other sockets, this process's or another's, bind
	// Addr too (SO_REUSEPORT), each shard with its own listening socket:
	// the kernel then spreads new connections over all of them, which is
	// how a new process takes over a port from an old one without
	// refusing anyone. Default false: Listen fails with "address already
	// in use" if anything holds the port, and nothing can share it after.
	ReusePort bool

	// CheckOrigin decides on a browser's Origin header (host is the
	// request's Host). Default: no Origin, or one whose host equals Host.
	// For handshakes a shard reads itself (Listen, Serve) it runs on the
	// shard's thread: it must not block.
	CheckOrigin func(origin, host string) bool
	// Subprotocols the server speaks. Of those a client offers, the first
	// in the client's order is chosen: RFC 6455 has the client list them
	// by preference.
	Subprotocols []string
	// Accept, if set, decides on every handshake a shard reads itself
	// (Listen, ListenAndServe, Serve), after the origin check: it sees the
	// request (path, query, headers, cookies), and may refuse it (return
	// Reject(401, "log in first")), add header fields to the answer, store
	// the connection's value and subscribe it to topics, all before
	// OnOpen. It runs on the shard's thread: it must not block (a token
	// check or a lookup in memory, not a database call). With Upgrade from
	// net/http, the HTTP handler does all this itself.
	Accept func(r *Request) error
	// Compression negotiates permessage-deflate. Default: off.
	Compression Compression

	// SlowConsumer is the policy for a subscriber whose outbound queue is
	// full when a published message arrives. Default: EvictSlow.
	SlowConsumer SlowPolicy
	// OnSlowConsumer, if set, is told of every eviction or drop. It runs
	// on the shard thread and must not block.
	OnSlowConsumer func(c *Conn, evicted bool)
	// Broker carries published messages to the other nodes of a cluster.
	// Nil: this process only.
	Broker Broker

	// TLS, if set, makes ListenAndServe, Listen and Serve speak wss://:
	// the TLS handshake runs on a short-lived goroutine, within
	// HandshakeTimeout, then the shards decrypt and encrypt the
	// connection's records; no goroutine stays with it. TLS 1.2 and 1.3,
	// SNI and GetCertificate (autocert) work as with net/http; the
	// application protocol is HTTP/1.1 ("h2" is dropped from NextProtos).
	// For pages and WebSockets on one https port, see NewTLSListener.
	TLS *tls.Config
	// MaxTLSHandshakes bounds the TLS handshakes in progress at once;
	// more connections wait in the listen backlog until one ends. Default
	// DefaultMaxTLSHandshakes.
	MaxTLSHandshakes int
}

// Server serves WebSocket connections on a set of shards. Its methods are
// safe for concurrent use; none of them waits for a connection's I/O.
type Server struct {
	cfg      Config
	partial  *conn.Budget
	requests []Request // per shard: the view Accept is given
	connCfg  conn.Config
	shardCfg shard.Config
	disp     *mailbox.Dispatcher[*shard.Conn]
	shards   []*shard.Shard
	next     atomic.Uint32 // round-robin shard for handed-over sockets
	owed     atomic.Int64  // Close mails owed to the handler
	registry *shard.Registry

	tlsConfig          *tls.Config // Config.TLS as served (see serverTLS); nil: plain
	handshakes         *handshakes // TLS handshakes in progress
	tlsHandshakeErrors atomic.Uint64

	mu        sync.Mutex
	closing   bool          // under mu, with listeners
	closed    atomic.Bool   // closing, read without mu by every Publish
	done      chan struct{} // closed by Shutdown
	listeners []net.Listener
}

// New starts a server's shards and worker pool. It does not listen: call
// ListenAndServe, Listen, Serve, or Upgrade from a net/http handler.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("shoal: Config.Handler is required")
	}
	s := &Server{cfg: cfg, done: make(chan struct{})}
	s.setDefaults()
	if cfg.TLS != nil {
		s.tlsConfig = serverTLS(cfg.TLS)
	}
	s.handshakes = newHandshakes(s.cfg.MaxTLSHandshakes)
	s.registry = shard.NewRegistry(s.cfg.Shards)
	s.requests = make([]Request, s.cfg.Shards)
	s.partial = conn.NewBudget(s.cfg.MaxPartialBytes)
	s.connCfg = conn.Config{
		Role:           codec.RoleServer,
		MaxMessage:     s.cfg.MaxMessageSize,
		MaxOutbound:    s.cfg.MaxOutbound,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		Partial:        s.partial,
		Deflate:        s.cfg.Compression.connDeflate(s.cfg.Shards),
	}
	s.shardCfg = shard.Config{
		Conn:             &s.connCfg,
		HandshakeTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:      s.cfg.IdleTimeout,
		PingInterval:     s.cfg.PingInterval,
		PongTimeout:      s.cfg.PongTimeout,
		CloseTimeout:     s.cfg.CloseTimeout,
		MessageTimeout:   s.cfg.MessageTimeout,
		WriteTimeout:     s.cfg.WriteTimeout,
		SlowPolicy:       shard.SlowPolicy(s.cfg.SlowConsumer),
		Registry:         s.registry,
	}
	workers := s.cfg.Workers
	if s.cfg.Inline {
		workers = 0
	}
	limits := mailbox.Limits{Messages: s.cfg.MailboxSize, Bytes: s.cfg.MaxInbound}
	disp, err := mailbox.New(workers, limits, mailbox.Hooks[*shard.Conn]{
		Owner:    shard.OwnerOf,
		Deliver:  s.deliver,
		Panicked: func(c *shard.Conn, _ any) { c.Shard().Panicked(c) },
		Resume:   func(c *shard.Conn) { c.Shard().Resume(c) },
		Retry:    func(c *shard.Conn) { c.Shard().Retry(c) },
	})
	if err != nil {
		return nil, err
	}
	s.disp = disp
	if b := s.cfg.Broker; b != nil {
		s.registry.OnFirst = func(topic string) { b.Subscribe(topic) }
		s.registry.OnLast = func(topic string) { b.Unsubscribe(topic) }
		err := b.Start(func(topic string, t MessageType, data []byte) {
			s.publishLocal(topic, t, data, nil)
		})
		if err != nil {
			disp.Release(time.Second)
			return nil, err
		}
	}
	hooks := shard.Hooks{NewConn: s.newConn, Upgrade: s.upgradeInShard, Opened: func(*shard.Conn) { s.owed.Add(1) }}
	if f := s.cfg.OnSlowConsumer; f != nil {
		hooks.Slow = func(c *shard.Conn, evicted bool) { f(handle(c), evicted) }
	}
	for i := 0; i < s.cfg.Shards; i++ {
		sh, err := shard.New(i, &s.shardCfg, hooks, disp)
		if err != nil {
			s.stopShards()
			disp.Release(time.Second)
			return nil, err
		}
		s.shards = append(s.shards, sh)
		go sh.Run()
	}
	go s.releaseLoop()
	return s, nil
}

func (s *Server) setDefaults() {
	c := &s.cfg
	if c.Shards <= 0 {
		c.Shards = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if c.Workers <= 0 {
		c.Workers = 256
	}
	if c.MailboxSize <= 0 {
		c.MailboxSize = 64
	}
	c.MailboxSize = min(c.MailboxSize, mailbox.MaxMessages)
	if c.MaxInbound <= 0 {
		c.MaxInbound = 1 << 20
	}
	c.MaxInbound = min(c.MaxInbound, mailbox.MaxBytes)
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = conn.DefaultMaxMessage
	}
	c.MaxMessageSize = min(c.MaxMessageSize, maxMessageSize)
	if c.MaxPartialBytes == 0 {
		c.MaxPartialBytes = 64 << 20
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = codec.DefaultMaxHeaderBytes
	}
	if c.CheckOrigin == nil {
		c.CheckOrigin = sameOrigin
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = shard.DefaultHandshakeTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = shard.DefaultCloseTimeout
	}
	if c.MaxTLSHandshakes <= 0 {
		c.MaxTLSHandshakes = DefaultMaxTLSHandshakes
	}
}

// maxMessageSize caps MaxMessageSize: a message is held whole in memory,
// and the mailbox counts a waiting one in 32 bits.
const maxMessageSize = 1 << 30

func (s *Server) stopShards() {
	for _, sh := range s.shards {
		sh.Force()
		sh.Exit()
		<-sh.Done()
	}
}

// newConn allocates the handle and the shard's state together.
func (s *Server) newConn() *shard.Conn { return &new(Conn).sc }

// handle returns the Conn that holds c. Every shard.Conn of a Server is
// allocated by newConn as the first field of a Conn, so c points at the
// Conn itself; the cast saves a back pointer in every connection.
func handle(c *shard.Conn) *Conn { return (*Conn)(unsafe.Pointer(c)) }

// handle's cast needs sc at offset 0: this fails to compile otherwise.
var _ [0]struct{} = [unsafe.Offsetof(Conn{}.sc)]struct{}{}

// deliver runs on a worker (or the shard thread, inline) for each mail.
func (s *Server) deliver(c *shard.Conn, m *mailbox.Mail) {
	h := handle(c)
	switch m.Kind {
	case mailbox.Open:
		s.cfg.Handler.OnOpen(h)
	case mailbox.Message:
		s.cfg.Handler.OnMessage(h, Message{Type: MessageType(m.Op), Data: m.Data})
	case mailbox.Close:
		defer s.owed.Add(-1)
		s.cfg.Handler.OnClose(h, m.Err)
	case mailbox.Barrier:
		c.Shard().Barrier(c)
	}
}

// upgradeInShard decides on a handshake read by a shard, on its thread.
func (s *Server) upgradeInShard(c *shard.Conn, req *codec.Request) (string, []byte, error) {
	if len(req.Origin) > 0 && !s.cfg.CheckOrigin(string(req.Origin), string(req.Host)) {
		return "", nil, codec.ErrForbiddenOrigin
	}
	p := req.SelectProtocol(s.cfg.Subprotocols)
	handle(c).setProtocol(p)
	if s.cfg.Accept == nil {
		return p, nil, nil
	}
	r := &s.requests[c.Shard().ID()]
	*r = Request{req: req, conn: handle(c), sc: c, fields: r.fields[:0]}
	err := s.accept(r)
	fields := r.fields
	r.req, r.conn, r.sc = nil, nil, nil
	if err != nil {
		var he *codec.HandshakeError
		if !errors.As(err, &he) || he.Status < 400 || he.Status > 599 {
			err = errRefused
		}
		return "", fields, err
	}
	return p, fields, nil
}

// accept runs Config.Accept; a panic in it refuses the handshake with
// 500 instead of taking the shard down.
func (s *Server) accept(r *Request) (err error) {
	defer func() {
		if recover() != nil {
			err = &codec.HandshakeError{Status: 500, Reason: "internal error"}
		}
	}()
	return s.cfg.Accept(r)
}

// sameOrigin accepts a browser only from the page's own host, the
// default that keeps other sites from opening connections with the
// user's cookies (cross-site WebSocket hijacking).
func sameOrigin(origin, host string) bool {
	if origin == "" {
		return true
	}
	u, ok := originHost(origin)
	return ok && equalFoldASCII(u, host)
}

func originHost(origin string) (string, bool) {
	for _, scheme := range []string{"http://", "https://"} {
		if len(origin) > len(scheme) && equalFoldASCII(origin[:len(scheme)], scheme) {
			return origin[len(scheme):], true
		}
	}
	return "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Listen starts serving on Config.Addr and returns the bound address
// (useful with port 0). By default one listening socket is shared by
// every shard: a pending connection wakes one shard, which accepts it on
// its own thread, and the port is this server's alone (Listen fails with
// "address already in use" if anything holds it). With Config.ReusePort
// each shard has its own SO_REUSEPORT socket and the kernel spreads new
// connections over them, and over any other process's on the same port
// (macOS, NetBSD and OpenBSD give them all to one socket instead).
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, ErrServerClosed
	}
	if s.tlsConfig != nil {
		return s.listenTLS()
	}
	first, err := reactor.Listen(s.cfg.Addr, s.cfg.ReusePort, 0)
	if err != nil {
		return nil, fmt.Errorf("shoal: listen on %s: %w", s.cfg.Addr, err)
	}
	bound, err := reactor.LocalAddr(first)
	if err != nil {
		reactor.Close(first)
		return nil, err
	}
	if !s.cfg.ReusePort {
		l := shard.NewListener(first, len(s.shards))
		for _, sh := range s.shards {
			sh.Listen(l)
		}
		return net.TCPAddrFromAddrPort(bound), nil
	}
	fds := []int{first}
	for range s.shards[1:] {
		fd, err := reactor.Listen(bound.String(), true, 0)
		if err != nil {
			for _, fd := range fds {
				reactor.Close(fd)
			}
			return nil, err
		}
		fds = append(fds, fd)
	}
	for i, sh := range s.shards {
		sh.Listen(shard.NewListener(fds[i], 1))
	}
	return net.TCPAddrFromAddrPort(bound), nil
}

// ListenAndServe listens on Config.Addr and serves until Shutdown, when
// it returns ErrServerClosed.
func (s *Server) ListenAndServe() error {
	if _, err := s.Listen(); err != nil {
		return err
	}
	<-s.done
	return ErrServerClosed
}

// Serve accepts connections from l and hands each to a shard, which runs
// the handshake; it returns ErrServerClosed after Shutdown. l must yield
// TCP connections; with Config.TLS, Serve does the TLS itself.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	if s.tlsConfig != nil {
		return s.serveTLS(l)
	}
	for {
		nc, err := l.Accept()
		if err != nil {
			if retry, err := s.acceptFailed(err); !retry {
				return err
			}
			continue
		}
		s.handOver(nc, &shard.Adoption{Start: conn.StateHandshake})
	}
}

// handOver moves a Go net.Conn to the next shard, as a (whose FD and
// Remote it fills in) describes. nc is closed if that fails.
func (s *Server) handOver(nc net.Conn, a *shard.Adoption) (*shard.Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		nc.Close()
		return nil, ErrCannotTakeOver
	}
	fd, err := reactor.Detach(sc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	a.FD, a.Remote = fd, remoteOf(nc)
	return s.adopt(a)
}

// adopt gives a socket to the next shard in turn.
func (s *Server) adopt(a *shard.Adoption) (*shard.Conn, error) {
	sh := s.shards[int(s.next.Add(1))%len(s.shards)]
	return sh.Adopt(a)
}

// Shutdown stops accepting, sends close 1001 to every connection and
// waits for their close handshakes and for every OnClose to return, or
// for ctx to end, when the remaining connections are dropped at once and
// ctx's error returned. The worker pool is released last.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closing = true
	s.closed.Store(true)
	close(s.done)
	for _, l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.handshakes.closeAll()

	for _, sh := range s.shards {
		sh.Shutdown()
	}
	var err error
	for _, sh := range s.shards {
		select {
		case <-sh.Drained():
		case <-ctx.Done():
			err = ctx.Err()
			for _, sh := range s.shards {
				sh.Force()
			}
			<-sh.Drained()
		}
	}
	// Every Close mail is pushed now. The shards keep running, so that
	// mailboxes waiting for a worker are retried, until the handlers have
	// seen them all (or ctx ends).
	for s.owed.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	for _, sh := range s.shards {
		sh.Exit()
		<-sh.Done()
	}
	s.disp.Release(time.Second)
	if s.cfg.Broker != nil {
		if berr := s.cfg.Broker.Close(); err == nil {
			err = berr
		}
	}
	return err
}
