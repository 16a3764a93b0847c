package peers

import (
	"context"
	"time"

	"github.com/shoalws/shoal"
)

// shoalServer mirrors examples/echo: the reference the others are measured
// against.
type shoalServer struct{}

func (shoalServer) Serve(addr string, o Options) (string, func(), error) {
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return "", nil, err
	}
	var srv *shoal.Server
	handler := shoal.HandlerFuncs{
		// Send copies into the connection's outbound queue and never
		// blocks; ErrOutboundFull or ErrClosed concern that peer alone.
		Message: func(c *shoal.Conn, m shoal.Message) { _ = c.Send(m.Type, m.Data) },
	}
	if o.Broadcast {
		// Broadcast encodes the frame once and queues a reference to it
		// on every connection, each shard fanning out to its own.
		handler.Message = func(_ *shoal.Conn, m shoal.Message) { _ = srv.Broadcast(m.Type, m.Data) }
	}
	srv, err = shoal.New(shoal.Config{
		Addr: addr,
		// The handlers never block, so they run on the shard threads:
		// no hand-off to the worker pool, the lowest latency and CPU.
		Inline:         true,
		MaxMessageSize: MaxMessage,
		// A faithful echo holds a whole 16 MiB message for a slow reader.
		MaxOutbound: MaxMessage + 1<<20,
		Handler:     handler,
		// Off unless asked; with it, the defaults a chat backend gets.
		Compression: shoal.Compression{Enabled: o.Compress,
			ServerContextTakeover: o.Takeover, ClientContextTakeover: o.Takeover},
		// wss://: handshakes on short-lived goroutines, then the shards
		// decrypt and encrypt; no goroutine per connection.
		TLS: tlsConfig,
	})
	if err != nil {
		return "", nil, err
	}
	bound, err := srv.Listen()
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return bound.String(), stop, nil
}
