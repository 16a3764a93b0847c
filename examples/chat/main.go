// Command chat is a chat service on shoal: rooms, live member lists,
// join and leave notices, the last 100 messages of a room on joining
// (kept on disk, so a restart loses nothing), and a web page that
// reconnects by itself. The page, its script and style are embedded;
// nothing else is needed to run it:
//
//	go run ./examples/chat              # http://127.0.0.1:8080, history in ./chat-data
//	go run ./examples/chat -tls-cert cert.pem -tls-key key.pem  # https
//
// Messages are kept in a NATS JetStream stream: by default a NATS server
// embedded in the process, storing in -data; with -nats, a NATS server
// (or cluster) that several chat nodes share, so that a user on one node
// chats with a user on another. The wire protocol and the design are in
// README.md.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/shoalws/shoal"
)

// config is what a chat node is started with: the flags, and knobs that
// tests turn.
type config struct {
	addr string // HTTP listen address
	nats string // URL of a NATS server with JetStream; empty: embedded
	data string // the embedded NATS server's store directory

	rate   float64          // messages a second per connection; 0: ratePerSec
	now    func() time.Time // clock of rate limits and timestamps; nil: time.Now
	logf   func(format string, args ...any)
	limits limits
	timing timing
	// tls, if set, serves the page over https and /ws over wss on addr
	// (see loadTLS).
	tls *tls.Config
}

// limits bound what a node holds (README.md gives the resulting memory).
type limits struct {
	rooms         int           // rooms open on this node at once
	roomBytes     int           // memory one room's history may hold on a node
	storedMsgs    int64         // messages the stream keeps, all rooms together
	storedPerRoom int64         // and of one room
	storedBytes   int64         // bytes the stream keeps
	storedAge     time.Duration // age at which the stream forgets a message
	outboxMsgs    int           // messages said here awaiting the store
	outboxBytes   int
}

var defaultLimits = limits{
	rooms:         2000,
	roomBytes:     32 << 10,
	storedMsgs:    1_000_000,
	storedPerRoom: 10_000,
	storedBytes:   64 << 20,
	storedAge:     30 * 24 * time.Hour,
	outboxMsgs:    10_000,
	outboxBytes:   4 << 20,
}

// timing is the cluster's clockwork.
type timing struct {
	presenceDelay time.Duration // member-list updates are coalesced this long
	rosterEvery   time.Duration // rosters are announced again this often
	rosterTTL     time.Duration // and dropped when not heard of this long
	reconnectWait time.Duration // between attempts to reach NATS
	feedHeartbeat time.Duration // a silent feed is restarted after two (JetStream: 0.5-30 s)
	headerTimeout time.Duration // for an HTTP request's header, as the engine's handshake
}

var defaultTiming = timing{
	presenceDelay: 200 * time.Millisecond,
	rosterEvery:   5 * time.Second,
	rosterTTL:     15 * time.Second,
	reconnectWait: time.Second,
	feedHeartbeat: time.Second,
	headerTimeout: 10 * time.Second, // shard.DefaultHandshakeTimeout
}

// Fixed parameters of the store.
const (
	maxStoredMsg   = 8 << 10         // bytes of one stored message
	dedupWindow    = 2 * time.Minute // JetStream drops a repeated message id this long
	recordOverhead = 64              // memory of an outbox record beyond its body
	requestTimeout = 5 * time.Second // one JetStream API request
	retryMin       = 50 * time.Millisecond
	retryMax       = 2 * time.Second
)

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	var cfg config
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.nats, "nats", "", "URL of a NATS server with JetStream shared with other chat nodes, e.g. nats://127.0.0.1:4222 (default: a NATS server embedded in this process)")
	fs.StringVar(&cfg.data, "data", "chat-data", "directory of the embedded NATS server's message store (without -nats)")
	certFile := fs.String("tls-cert", "", "serve https and wss with this certificate (PEM; with -tls-key)")
	keyFile := fs.String("tls-key", "", "the certificate's private key (PEM)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("chat: unexpected arguments %q", fs.Args())
	}
	var err error
	cfg.tls, err = loadTLS(*certFile, *keyFile)
	return cfg, err
}

func (cfg config) withDefaults() config {
	if cfg.rate <= 0 {
		cfg.rate = ratePerSec
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.logf == nil {
		cfg.logf = log.Printf
	}
	if cfg.data == "" {
		cfg.data = "chat-data"
	}
	l, dl := &cfg.limits, defaultLimits
	orDefault(&l.rooms, dl.rooms)
	orDefault(&l.roomBytes, dl.roomBytes)
	orDefault(&l.storedMsgs, dl.storedMsgs)
	orDefault(&l.storedPerRoom, dl.storedPerRoom)
	orDefault(&l.storedBytes, dl.storedBytes)
	orDefault(&l.storedAge, dl.storedAge)
	orDefault(&l.outboxMsgs, dl.outboxMsgs)
	orDefault(&l.outboxBytes, dl.outboxBytes)
	t, dt := &cfg.timing, defaultTiming
	orDefault(&t.presenceDelay, dt.presenceDelay)
	orDefault(&t.rosterEvery, dt.rosterEvery)
	orDefault(&t.rosterTTL, dt.rosterTTL)
	orDefault(&t.reconnectWait, dt.reconnectWait)
	orDefault(&t.feedHeartbeat, dt.feedHeartbeat)
	orDefault(&t.headerTimeout, dt.headerTimeout)
	return cfg
}

// orDefault sets *v to def if it is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// service is a running chat node: the WebSocket server, the HTTP server
// that serves the page and hands /ws to it, and the store.
type service struct {
	app             *app
	srv             *shoal.Server
	http            *http.Server
	ln              net.Listener
	upgradeFailures *upgradeFailures
	stopOnce        sync.Once
	stopErr         error
}

func start(cfg config) (*service, error) {
	cfg = cfg.withDefaults()
	id := make([]byte, 8)
	rand.Read(id)
	a := newApp(cfg, hex.EncodeToString(id))
	srv, err := shoal.New(shoal.Config{
		Handler:        a.handler(),
		MaxMessageSize: maxFrame,
		// A reader that falls this far behind a busy room is evicted
		// (1008) rather than let its backlog grow; the page reconnects.
		MaxOutbound:  1 << 20,
		PingInterval: 30 * time.Second,
		Compression:  shoal.Compression{Enabled: true}, // browsers all offer permessage-deflate
	})
	if err != nil {
		return nil, err
	}
	a.srv = srv
	s := &service{app: a, srv: srv}
	fail := func(err error) (*service, error) {
		srv.Shutdown(context.Background())
		if a.cluster != nil {
			a.cluster.close()
		}
		if a.store != nil {
			a.store.close(context.Background())
		}
		if s.ln != nil {
			s.ln.Close()
		}
		return nil, err
	}
	// The port first: a busy one fails before the store is touched.
	if s.ln, err = net.Listen("tcp", cfg.addr); err != nil {
		return fail(err)
	}
	if cfg.tls != nil {
		s.ln = shoal.NewTLSListener(s.ln, cfg.tls)
	}
	if a.store, err = openStore(cfg, a.node, a.deliver); err != nil {
		return fail(err)
	}
	if a.cluster, err = newCluster(a, a.store); err != nil {
		return fail(err)
	}
	s.http = newHTTPServer(s.routes(cfg.logf), cfg.timing.headerTimeout, cfg.logf)
	go s.http.Serve(s.ln)
	return s, nil
}

// addr is where the service listens.
func (s *service) addr() string { return s.ln.Addr().String() }

// stop closes every connection with 1001 (going away), tells the other
// nodes, sends what still waits for the store and stops serving.
// Only the first call does anything.
func (s *service) stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		err := s.http.Shutdown(ctx)
		if serr := s.srv.Shutdown(ctx); err == nil {
			err = serr
		}
		close(s.app.closed)
		s.app.cluster.close()
		s.app.store.close(ctx)
		s.stopErr = err
	})
	return s.stopErr
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	s, err := start(cfg)
	if err != nil {
		log.Fatal(err)
	}
	scheme := "http"
	if cfg.tls != nil {
		scheme = "https"
	}
	log.Printf("chat: open %s://%s", scheme, s.addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	log.Print("chat: shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.stop(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("chat: shutdown: %v", err)
	}
}
