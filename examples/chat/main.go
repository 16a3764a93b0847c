// Command chat is a chat service on shoal: rooms, live member lists,
// join and leave notices, the last 100 messages of a room on joining, and
// a web page that reconnects by itself. The page, its script and style
// are embedded; nothing else is needed to run it:
//
//	go run ./examples/chat              # http://127.0.0.1:8080
//
// With -nats, several chat nodes share rooms, members and history
// through a NATS server: a user on one node chats with a user on another.
// The wire protocol is in README.md.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalws/shoal"
	natsbroker "github.com/shoalws/shoal/broker/nats"
)

//go:embed static
var static embed.FS

// service is a running chat node: the WebSocket server and the HTTP
// server that serves the page and hands /ws to it.
type service struct {
	app    *app
	srv    *shoal.Server
	http   *http.Server
	ln     net.Listener
	broker *natsbroker.Broker
}

type config struct {
	addr string  // listen address
	nats string  // NATS URL; empty: run alone
	rate float64 // messages a second per connection; 0: ratePerSec
	// now is the clock of rate limits and timestamps (tests move it);
	// nil: time.Now.
	now func() time.Time
}

func start(cfg config) (*service, error) {
	s := &service{app: newApp()}
	if cfg.rate > 0 {
		s.app.rate = cfg.rate
	}
	if cfg.now != nil {
		s.app.now = cfg.now
	}
	scfg := shoal.Config{
		Handler:        s.app.handler(),
		MaxMessageSize: maxFrame,
		// A reader that falls this far behind a busy room is evicted
		// (1008) rather than let its backlog grow; the page reconnects.
		MaxOutbound:  1 << 20,
		PingInterval: 30 * time.Second,
		Compression:  shoal.Compression{Enabled: true}, // browsers all offer permessage-deflate
	}
	if cfg.nats != "" {
		b, err := natsbroker.New(natsbroker.Options{URL: cfg.nats, Name: "shoal-chat", Logf: log.Printf})
		if err != nil {
			return nil, err
		}
		s.broker, scfg.Broker = b, b
	}
	srv, err := shoal.New(scfg)
	if err != nil {
		return nil, err
	}
	s.srv, s.app.srv = srv, srv
	if s.broker != nil {
		if s.app.cluster, err = newCluster(s.app, s.broker.Conn()); err != nil {
			srv.Shutdown(context.Background())
			return nil, err
		}
	}
	pages, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(pages))
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		srv.Upgrade(w, r, nil)
	})
	s.ln, err = net.Listen("tcp", cfg.addr)
	if err != nil {
		srv.Shutdown(context.Background())
		return nil, err
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(s.ln)
	return s, nil
}

// addr is where the service listens.
func (s *service) addr() string { return s.ln.Addr().String() }

// stop closes every connection with 1001 (going away) and stops serving.
func (s *service) stop(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if s.app.cluster != nil {
		s.app.cluster.close()
	}
	if serr := s.srv.Shutdown(ctx); err == nil {
		err = serr
	}
	return err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	natsURL := flag.String("nats", "", "NATS URL to share rooms with other chat nodes, e.g. nats://127.0.0.1:4222")
	flag.Parse()

	s, err := start(config{addr: *addr, nats: *natsURL})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("chat: open http://%s", s.addr())

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
