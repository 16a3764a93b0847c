// Command echo is a WebSocket echo server on shoal: every text and binary
// message comes back exactly as received. It is the target of the
// conformance suite and of the benchmarks, so it must stay a faithful
// echo: no idle timeout, a 16 MiB message limit (the large-message
// conformance cases need it) and handlers that never block, run inline on
// the shard threads unless -pool is given.
//
// With -broadcast every message received from any client is sent to every
// connected client instead (encoded once, shared by all): the broadcast
// benchmark target. With -compress it negotiates permessage-deflate with
// clients that offer it (-takeover: context takeover both ways, with
// windows of 1<<-window bytes). With -tls-cert and -tls-key it serves
// wss:// (the shards encrypt and decrypt; no goroutine per connection).
//
//	go run ./examples/echo -addr 127.0.0.1:9001
//	go run ./examples/echo -addr 127.0.0.1:9001 -broadcast
//	go run ./examples/echo -addr 127.0.0.1:9001 -compress
//	go run ./examples/echo -tls-cert cert.pem -tls-key key.pem
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalws/shoal"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	maxMsg := flag.Int64("maxmsg", 16<<20, "largest message in bytes")
	shards := flag.Int("shards", 0, "reactor shards (0: one per CPU)")
	pool := flag.Bool("pool", false, "run the handler on the worker pool instead of inline")
	broadcast := flag.Bool("broadcast", false, "send every message to every client")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate (RFC 7692)")
	takeover := flag.Bool("takeover", false, "with -compress: keep a compression context between messages, both ways")
	window := flag.Int("window", shoal.DefaultWindowBits, "with -takeover: window bits of each context, 8 to 15")
	level := flag.Int("level", 1, "with -compress: compression level, 1 to 9")
	certFile := flag.String("tls-cert", "", "serve wss:// with this certificate (PEM; with -tls-key)")
	keyFile := flag.String("tls-key", "", "the certificate's private key (PEM)")
	flag.Parse()

	var tlsConfig *tls.Config
	if *certFile != "" || *keyFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	var srv *shoal.Server
	handler := shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			// A faithful echo drops nothing: a peer that does not read its
			// echoes (its queue is full) is closed, not logged per message
			// (Stats counts it). Inline, the shard stops reading such a
			// peer before this happens; on the pool it can.
			if c.Send(m.Type, m.Data) == shoal.ErrOutboundFull {
				c.Close(shoal.StatusPolicyViolation, "not reading its echoes")
			}
		},
	}
	if *broadcast {
		handler.Message = func(c *shoal.Conn, m shoal.Message) { srv.Broadcast(m.Type, m.Data) }
	}
	srv, err := shoal.New(shoal.Config{
		Addr:           *addr,
		Shards:         *shards,
		Inline:         !*pool,
		MaxMessageSize: *maxMsg,
		// A faithful echo holds a whole 16 MiB message for a slow reader.
		MaxOutbound: *maxMsg + 1<<20,
		Handler:     handler,
		Compression: shoal.Compression{
			Enabled: *compress, Level: *level,
			ServerContextTakeover: *takeover, ClientContextTakeover: *takeover, WindowBits: *window,
		},
		TLS: tlsConfig,
	})
	if err != nil {
		log.Fatal(err)
	}
	bound, err := srv.Listen()
	if err != nil {
		log.Fatal(err)
	}
	scheme := "ws"
	if tlsConfig != nil {
		scheme = "wss"
	}
	log.Printf("echo: listening on %s://%s", scheme, bound)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
	}
}
