package shard

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/bufpool"
	"github.com/shoalws/shoal/internal/timewheel"
	"github.com/shoalws/shoal/internal/tlsio"
	"github.com/shoalws/shoal/mailbox"
	"github.com/shoalws/shoal/reactor"
)

// Config is shared, read-only, by the shards of a server. Zero durations
// take the defaults below, except IdleTimeout and PingInterval, where
// zero turns the feature off; a negative MessageTimeout or WriteTimeout
// turns that one off. Every duration is capped at 20 days.
type Config struct {
	Conn             *conn.Config
	HandshakeTimeout time.Duration // accept to upgraded
	IdleTimeout      time.Duration // no input for this long: close 1001
	PingInterval     time.Duration // no input for this long: send a ping
	PongTimeout      time.Duration // no input this long after a ping: drop
	CloseTimeout     time.Duration // close handshake and lingering close
	MessageTimeout   time.Duration // a message or frame begun and not finished: close 1008
	WriteTimeout     time.Duration // output waiting with no progress: drop
	ReadBufferSize   int           // one per shard, lent to each read
	Tick             time.Duration // timer granularity
	SlowPolicy       SlowPolicy    // for published frames to a full queue
	Registry         *Registry     // topics, shared by the server's shards; nil: the shard's own
}

// Defaults for Config.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	DefaultMessageTimeout   = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultReadBufferSize   = 64 << 10
	DefaultTick             = 50 * time.Millisecond
)

func (c *Config) withDefaults() *Config {
	d := *c
	if d.Conn == nil {
		d.Conn = &conn.Config{}
	}
	if d.HandshakeTimeout <= 0 {
		d.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if d.CloseTimeout <= 0 {
		d.CloseTimeout = DefaultCloseTimeout
	}
	if d.MessageTimeout == 0 {
		d.MessageTimeout = DefaultMessageTimeout
	}
	if d.WriteTimeout == 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.PingInterval > 0 && d.PongTimeout <= 0 {
		d.PongTimeout = d.PingInterval
	}
	for _, t := range []*time.Duration{&d.HandshakeTimeout, &d.IdleTimeout, &d.PingInterval,
		&d.PongTimeout, &d.CloseTimeout, &d.MessageTimeout, &d.WriteTimeout} {
		*t = min(*t, maxTimeout)
	}
	if d.ReadBufferSize < 4096 {
		d.ReadBufferSize = DefaultReadBufferSize
	}
	if d.Tick <= 0 {
		d.Tick = DefaultTick
	}
	return &d
}

// Hooks connect a shard to the API above it. Both run on the shard
// thread and must not block.
type Hooks struct {
	// NewConn allocates a connection, so that the API can embed Conn in
	// its own handle and spend one allocation per connection. Nil: new.
	NewConn func() *Conn
	// Upgrade decides on a handshake that passed the codec's checks (see
	// conn.Sink). Nil accepts every handshake with no subprotocol. It may
	// call SubscribeNow on c.
	Upgrade func(c *Conn, req *codec.Request) (protocol string, fields []byte, err error)
	// Opened runs when a connection's Open mail is pushed: a Close mail
	// is owed from then on. May be nil.
	Opened func(c *Conn)
	// Slow reports a published frame that met a full outbound queue:
	// evicted says whether the conn was closed (SlowEvict) or the frame
	// skipped (SlowDrop). May be nil.
	Slow func(c *Conn, evicted bool)
}

// Errors reported as a connection's end.
var (
	ErrHandshakeTimeout = &codec.CloseError{Code: codec.StatusAbnormal, Reason: "handshake timed out"}
	ErrPongTimeout      = &codec.CloseError{Code: codec.StatusAbnormal, Reason: "no answer to ping"}
	ErrCloseTimeout     = &codec.CloseError{Code: codec.StatusAbnormal, Reason: "close handshake timed out"}
	ErrHandlerPanic     = &codec.ProtocolError{Code: codec.StatusInternal, Reason: "internal error"}
	// ErrMessageTimeout: the peer began a message (or a frame) and did
	// not finish it within MessageTimeout. Close 1008.
	ErrMessageTimeout = &codec.ProtocolError{Code: codec.StatusPolicy, Reason: "message not finished in time"}
	// ErrWriteTimeout: output waited WriteTimeout without the peer
	// taking a byte; the connection is dropped without a close frame,
	// which could not reach it either.
	ErrWriteTimeout = &codec.CloseError{Code: codec.StatusAbnormal, Reason: "peer stopped reading"}
	errIdle         = "idle timeout"
	errShutdown     = "server shutting down"
)

// ErrShardClosed is returned for work posted to a shard that has stopped.
var ErrShardClosed = errors.New("shard: stopped")

type cmdKind uint8

const (
	cmdSend cmdKind = iota
	cmdClose
	cmdResume
	cmdPanic
	cmdAdopt
	cmdListen
	cmdShutdown
	cmdForce
	cmdExit
	cmdSubscribe
	cmdUnsubscribe
	cmdPublish
	cmdBroadcast
	cmdBarrier
)

// command is work posted to the shard from another goroutine.
type command struct {
	kind   cmdKind
	c      *Conn
	buf    *bufpool.Buf // send, publish: the encoded frame; adopt: bytes read ahead
	reply  *bufpool.Buf // adopt: bytes to write before anything else
	topics []string     // adopt: counted in the registry, to subscribe
	code   codec.StatusCode
	reason string    // close: the reason; subscribe, publish: the topic
	ln     *Listener // listen
	// publish: the message compressed once, for the conns that share
	// compressed frames; nil if it was not compressed
	deflated *bufpool.Buf
	sec      *secure // adopt: the TLS state, nil for a plain conn
}

// A shard writes before it has applied all its posted commands once at
// least flushEvery frames wait, and on average framesPerWrite per
// connection: early enough to bound the frames in flight, late enough
// that each writev still carries several.
const (
	flushEvery     = 32 << 10
	framesPerWrite = 16
)

// Shard is one reactor thread and the connections it owns. Run, and the
// reactor.Loop methods it drives (Ready, Flush, Pending), belong to the
// shard's thread; every other method posts to it and is safe from any
// goroutine.
type Shard struct {
	// immutable after New
	id      int
	cfg     *Config
	hooks   Hooks
	disp    *mailbox.Dispatcher[*Conn]
	poller  *reactor.Poller
	start   time.Time
	done    chan struct{} // closed when Run has returned
	drained chan struct{} // closed when a shutdown has closed every conn

	// shared: posted by other goroutines
	mu      sync.Mutex
	cmds    []command
	spare   []command
	retryMu sync.Mutex
	retries []*Conn // boxes the pool had no worker for
	stopped bool    // Run has returned; posts are refused

	// owned by the shard thread
	conns     fdTable[Conn]
	topics    map[string]*subscribers
	listeners []*Listener
	listenOff int64 // clock until which accepting is paused (EMFILE)
	acceptor  reactor.Acceptor
	wheel     *timewheel.Wheel[struct{}]
	readBuf   []byte
	vec       reactor.Vec
	dirty     []*Conn
	resumes   []*Conn // paused for their outbound queue, which has drained
	retrying  []*Conn
	trimAt    int64 // clock of the next node-cache trim
	now       int64
	cur       *Conn     // the conn whose Input is running, for the Sink calls
	unflushed int       // frames queued since the last flushDirty
	direct    bool      // this pass's one publish is written without queueing
	tls       *tlsShard // nil until the shard's first TLS conn
	shutting  bool
	exit      bool // the server saw every OnClose: Run may return

	stats Stats
}

// New creates a shard; Run drives it.
func New(id int, cfg *Config, hooks Hooks, disp *mailbox.Dispatcher[*Conn]) (*Shard, error) {
	p, err := reactor.New()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Registry == nil {
		// A shard on its own: a registry with room for its index.
		cfg.Registry = NewRegistry(id + 1)
	}
	// The shard's own copy of the conn settings, with its node cache
	// and handshake scratch.
	connCfg := *cfg.Conn
	connCfg.Nodes = new(conn.NodeCache)
	connCfg.Request = new(codec.Request)
	if connCfg.Deflate != nil {
		connCfg.DeflateScratch = new(conn.DeflateScratch)
	}
	cfg.Conn = &connCfg
	s := &Shard{
		id: id, cfg: cfg, hooks: hooks, disp: disp, poller: p,
		start:   time.Now(),
		done:    make(chan struct{}),
		drained: make(chan struct{}),
		readBuf: make([]byte, cfg.ReadBufferSize),
		topics:  make(map[string]*subscribers),
	}
	connCfg.Owner = s
	// 1024 slots of one tick cover the common timeouts in one rotation.
	s.wheel = timewheel.New[struct{}](cfg.Tick, 1024, 0)
	return s, nil
}

// ID is the shard's index in its server.
func (s *Shard) ID() int { return s.id }

// Done is closed when Run has returned and the shard's resources are
// released.
func (s *Shard) Done() <-chan struct{} { return s.done }

// Drained is closed once a shutdown (or Force) has closed every
// connection of the shard. The shard keeps running, retrying mailboxes
// that wait for a worker, until Exit.
func (s *Shard) Drained() <-chan struct{} { return s.drained }

// Run drives the shard on the calling goroutine, locked to its thread,
// until a shutdown has closed every connection.
func (s *Shard) Run() error {
	defer close(s.done)
	err := s.poller.Run(s)
	s.mu.Lock()
	s.stopped = true
	leftover := s.cmds
	s.cmds = nil
	s.mu.Unlock()
	for i := range leftover {
		s.discard(&leftover[i])
	}
	s.poller.Close()
	return err
}

// post queues a command and wakes the shard.
func (s *Shard) post(cmd command) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrShardClosed
	}
	s.cmds = append(s.cmds, cmd)
	s.mu.Unlock()
	return s.poller.Wake()
}

// Send queues an encoded data frame for c, taking over b's reference. It
// fails, releasing b, if c is closing or its outbound queue is full.
// Frames sent from one goroutine to one conn leave in the order sent.
func (s *Shard) Send(c *Conn, b *bufpool.Buf) error {
	if c.ending.Load() {
		b.Release()
		return conn.ErrClosed
	}
	cost := conn.Cost(b)
	if !c.Admit(cost) {
		s.stats.sendRefused.Add(1)
		b.Release()
		return conn.ErrOutboundFull
	}
	if err := s.post(command{kind: cmdSend, c: c, buf: b}); err != nil {
		c.Unadmit(cost)
		b.Release()
		return conn.ErrClosed
	}
	return nil
}

// Close starts the close handshake on c with code and reason, after the
// frames already sent to it.
func (s *Shard) Close(c *Conn, code codec.StatusCode, reason string) error {
	if _, err := codec.AppendClosePayload(nil, code, reason); err != nil {
		return err
	}
	// Sends after this call fail at once; those posted before it are
	// ahead of the close in the queue and go out first.
	if c.ending.Swap(true) {
		return conn.ErrClosed
	}
	return s.post(command{kind: cmdClose, c: c, code: code, reason: reason})
}

// Adoption is a socket a shard is to own from now on (see Adopt).
type Adoption struct {
	FD     int
	Remote netip.AddrPort
	// Start is StateHandshake for a socket accepted elsewhere that still
	// has to send its handshake, StateOpen for one upgraded elsewhere.
	Start conn.State
	// Ahead holds bytes already read past the handshake; Reply the bytes
	// to write before any frame (the handshake's answer, written by the
	// shard once it owns the socket, so that nothing is promised to a
	// connection the shard could not take).
	Ahead, Reply []byte
	// Topics are subscribed before the connection opens: a publish made
	// after Adopt returns reaches it.
	Topics []string
	// Setup runs on the new Conn before the shard sees it.
	Setup func(*Conn)
	// TLS, for a wss:// connection, is its tls.Conn, handshake done, on
	// Transport, which the caller detached from the Go socket FD was
	// taken from (see DESIGN.md, "TLS"). Records crypto/tls already read
	// and not yet returned are read on adoption, after Ahead (plaintext
	// read past the HTTP handshake); Reply is sealed. A connection still
	// to send its WebSocket handshake must finish it within
	// HandshakeTimeout of Begun, when its TLS handshake began.
	TLS       *tls.Conn
	Transport *tlsio.Transport
	Begun     time.Time
}

// Adopt registers a socket the shard is to own from now on. On error the
// socket has been closed.
func (s *Shard) Adopt(a *Adoption) (*Conn, error) {
	c := s.newConn(a.FD, a.Remote, a.Start)
	if a.Setup != nil {
		a.Setup(c)
	}
	for _, t := range a.Topics {
		s.cfg.Registry.acquire(t, s.id)
	}
	cmd := command{kind: cmdAdopt, c: c, buf: copied(a.Ahead), reply: copied(a.Reply), topics: a.Topics}
	if a.TLS != nil {
		cmd.sec = s.newSecure(a)
	}
	if err := s.post(cmd); err != nil {
		s.discard(&cmd)
		return nil, err
	}
	return c, nil
}

// copied returns b in a pooled buffer, or nil if b is empty.
func copied(b []byte) *bufpool.Buf {
	if len(b) == 0 {
		return nil
	}
	buf := bufpool.Get(len(b))
	buf.B = append(buf.B, b...)
	return buf
}

// Listen hands the shard a listening socket to accept from, taking over
// one of its holds.
func (s *Shard) Listen(l *Listener) error {
	if err := s.post(command{kind: cmdListen, ln: l}); err != nil {
		l.release()
		return err
	}
	return nil
}

// Shutdown asks the shard to stop accepting, send close 1001 to every
// connection and stop once all are closed.
func (s *Shard) Shutdown() error { return s.post(command{kind: cmdShutdown}) }

// Force closes every remaining connection at once, without waiting for
// close handshakes.
func (s *Shard) Force() error { return s.post(command{kind: cmdForce}) }

// Exit lets a drained shard's Run return.
func (s *Shard) Exit() error { return s.post(command{kind: cmdExit}) }

// Pending is part of reactor.Loop.
func (s *Shard) Pending() bool {
	s.mu.Lock()
	n := len(s.cmds)
	s.mu.Unlock()
	return n > 0
}

// Flush is part of reactor.Loop: apply posted commands, retry mailboxes,
// fire timers, then write every connection with output.
func (s *Shard) Flush() (time.Duration, bool) {
	s.stats.passes.Add(1)
	s.clock()
	s.resumeListeners()
	s.applyCommands()
	s.retryBoxes()
	s.wheel.Advance(s.now, s.onTimer)
	s.flushDirty()
	s.resumeDrained()
	s.trimCaches()
	s.trimIdle()
	if s.shutting && s.stats.open.Load() == 0 {
		select {
		case <-s.drained:
		default:
			s.closeListeners()
			close(s.drained)
		}
		if s.exit {
			return 0, true
		}
	}
	timeout := time.Duration(-1)
	if d, ok := s.wheel.Next(s.clock()); ok {
		timeout = d
	}
	if len(s.retrying) > 0 || s.retryQueued() {
		// The pool was full: try again soon, but do not spin.
		timeout = atMost(timeout, time.Millisecond)
	}
	if s.listenOff > 0 {
		timeout = atMost(timeout, 100*time.Millisecond)
	}
	if d, ok := s.nextTrimIn(); ok {
		timeout = atMost(timeout, d)
	}
	return timeout, false
}

// resumeDrained lets connections that were paused for a full outbound
// queue read again. Their input may run inline handlers that queue more,
// so what they queue is written in the same pass.
func (s *Shard) resumeDrained() {
	for len(s.resumes) > 0 {
		list := s.resumes
		s.resumes = nil
		for i, c := range list {
			list[i] = nil
			s.resume(c, pauseOutbound)
		}
		if s.resumes == nil {
			s.resumes = list[:0]
		}
		s.flushDirty()
	}
}

// trimInterval is how often a shard lets go of queue nodes a burst left
// in its cache and traffic has not needed since.
const trimInterval = int64(2 * time.Second)

func (s *Shard) trimCaches() {
	if s.now < s.trimAt {
		return
	}
	s.trimAt = s.now + trimInterval
	s.cfg.Conn.Nodes.Trim()
}

// atMost caps a wait timeout, where negative means forever.
func atMost(timeout, limit time.Duration) time.Duration {
	if timeout < 0 || timeout > limit {
		return limit
	}
	return timeout
}

func (s *Shard) applyCommands() {
	s.mu.Lock()
	cmds := s.cmds
	s.cmds, s.spare = s.spare[:0], nil
	s.mu.Unlock()
	// One publish in a pass goes straight to the subscribers' sockets
	// (writeDirect); several are corked, each subscriber's frames
	// leaving together in one writev at the end of the pass.
	publishes := 0
	for i := range cmds {
		if k := cmds[i].kind; k == cmdPublish || k == cmdBroadcast {
			publishes++
		}
	}
	s.direct = publishes == 1
	for i := range cmds {
		s.apply(&cmds[i])
		cmds[i] = command{}
		// A burst of publishes is written as it goes, not all at the end
		// of the pass: the first bytes leave sooner, and the queue nodes
		// in flight (and so the node cache) stay bounded.
		if s.unflushed >= flushEvery && s.unflushed >= framesPerWrite*len(s.dirty) {
			s.flushDirty()
		}
	}
	s.mu.Lock()
	s.spare = cmds[:0]
	s.mu.Unlock()
}

func (s *Shard) apply(cmd *command) {
	c := cmd.c
	switch cmd.kind {
	case cmdSend:
		if c.Enqueue(cmd.buf) == nil {
			s.stats.msgsOut.Add(1)
			s.markDirty(c)
		}
	case cmdClose:
		if !c.Closed() && c.Close(cmd.code, cmd.reason) == nil {
			s.after(c)
		}
	case cmdResume:
		s.resume(c, pauseMailbox)
	case cmdPanic:
		if !c.Closed() {
			c.Fail(ErrHandlerPanic)
			s.after(c)
		}
	case cmdAdopt:
		s.register(c, cmd.buf, cmd.reply, cmd.topics, cmd.sec)
	case cmdListen:
		s.addListener(cmd.ln)
	case cmdShutdown:
		s.shutdown()
	case cmdForce:
		s.forceAll()
	case cmdExit:
		s.shutting, s.exit = true, true
	case cmdSubscribe:
		s.subscribe(c, cmd.reason)
	case cmdUnsubscribe:
		s.unsubscribe(c, cmd.reason)
	case cmdPublish:
		s.fanOut(cmd, false)
	case cmdBroadcast:
		s.fanOut(cmd, true)
	case cmdBarrier:
		if !c.Closed() {
			c.SendClose()
			s.after(c)
		}
	}
}

// discard releases what a command holds when the shard is gone.
func (s *Shard) discard(cmd *command) {
	switch cmd.kind {
	case cmdSend:
		cmd.c.Unadmit(conn.Cost(cmd.buf))
		cmd.buf.Release()
	case cmdAdopt:
		reactor.Close(int(cmd.c.fd))
		for _, t := range cmd.topics {
			s.cfg.Registry.release(t, s.id)
		}
		for _, b := range []*bufpool.Buf{cmd.buf, cmd.reply} {
			if b != nil {
				b.Release()
			}
		}
	case cmdListen:
		cmd.ln.release()
	case cmdSubscribe:
		s.cfg.Registry.release(cmd.reason, s.id)
	case cmdPublish, cmdBroadcast:
		cmd.buf.Release()
		if cmd.deflated != nil {
			cmd.deflated.Release()
		}
	}
}

// Retry is the mailbox hook for a box the pool had no worker for. It may
// run on any goroutine.
func (s *Shard) Retry(c *Conn) {
	s.retryMu.Lock()
	s.retries = append(s.retries, c)
	s.retryMu.Unlock()
	s.poller.Wake()
}

// Resume is the mailbox hook for a box drained to half after the shard
// paused reading.
func (s *Shard) Resume(c *Conn) { s.post(command{kind: cmdResume, c: c}) }

// Barrier is called when a conn's mailbox reaches the barrier pushed
// after its close: every message before the close has been handled, and
// the handler's sends for them are already in this shard's queue, ahead
// of this command. Safe from any goroutine.
func (s *Shard) Barrier(c *Conn) { s.post(command{kind: cmdBarrier, c: c}) }

// Panicked is the mailbox hook for a handler panic: the conn is failed
// with 1011.
func (s *Shard) Panicked(c *Conn) { s.post(command{kind: cmdPanic, c: c}) }

func (s *Shard) retryQueued() bool {
	s.retryMu.Lock()
	n := len(s.retries)
	s.retryMu.Unlock()
	return n > 0
}

// retryBoxes schedules boxes that found the pool full, in the order they
// asked, stopping at the first refusal (the pool is still full); that box
// keeps its place at the front, so a busy box that gave up its worker
// cannot overtake one that has been waiting.
func (s *Shard) retryBoxes() {
	s.retryMu.Lock()
	s.retrying = append(s.retrying, s.retries...)
	clear(s.retries)
	s.retries = s.retries[:0]
	s.retryMu.Unlock()
	i := 0
	for ; i < len(s.retrying); i++ {
		if !s.disp.Retry(&s.retrying[i].Box) {
			break
		}
		s.retrying[i] = nil
	}
	n := copy(s.retrying, s.retrying[i:])
	clear(s.retrying[n:])
	s.retrying = s.retrying[:n]
}
