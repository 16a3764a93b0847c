//go:build nbio

// nbio is left out of the default build: it cannot serve this benchmark's
// service faithfully. nbio v1.6.12 (and v1.6.7 before it) never calls
// OnMessage for an empty message (websocket.Conn.Parse only hands on a
// message whose buffer was allocated, and a zero-length payload allocates
// none), so a 0-byte echo or broadcast is silently lost; and its
// accept-to-poller hand-off of each connection trips the race detector
// inside nbio, which the -race suite cannot pass. Build with -tags nbio to
// run it anyway; TestPeers then shows both failures.

package peers

import (
	"context"
	"net/http"
	"os"
	"sync"
	"time"

	nbtls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// nbioServer is lesismal/nbio in its nonblocking mode: accepted
// connections go to nbio's epoll pollers, with no goroutine per connection,
// the design it shares with shoal (goroutine-per-conn is what gorilla, gws
// and gobwas already show).
type nbioServer struct{}

func init() { Libs["nbio"] = nbioServer{} }

var nbioLogOnce sync.Once

func (nbioServer) Serve(addr string, o Options) (string, func(), error) {
	broadcast := o.Broadcast
	// nbio logs every start and stop to stdout, which carries "ready".
	nbioLogOnce.Do(func() {
		logging.Output = os.Stderr
		logging.SetLevel(logging.LevelError)
	})
	var conns connSet[*websocket.Conn]
	up := websocket.NewUpgrader()
	up.KeepaliveTime = 0 // the default (120 s) is an idle timeout
	up.MessageLengthLimit = MaxMessage
	// Compression: nbio has no context takeover; a negotiated connection
	// compresses what it writes once EnableWriteCompression says so.
	up.EnableCompression(o.Compress)
	up.OnOpen(func(c *websocket.Conn) {
		if o.Compress {
			c.EnableWriteCompression(true)
		}
		conns.add(c)
	})
	up.OnClose(func(c *websocket.Conn, _ error) { conns.remove(c) })
	up.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		if !broadcast {
			_ = c.WriteMessage(mt, data)
			return
		}
		// nbio has no broadcaster: every write encodes its own frame. A
		// nonblocking write never waits: what the socket does not take
		// now is copied to the connection's buffer and sent on EPOLLOUT.
		for _, o := range conns.list() {
			_ = o.WriteMessage(mt, data)
		}
	})
	addrs := []string{addr} // the engine writes the bound address back
	conf := nbhttp.Config{
		Network: "tcp",
		Addrs:   addrs,
		IOMod:   nbhttp.IOModNonBlocking,
		MaxLoad: 1 << 20, // the default caps a server at 10k connections
		// Give the read buffer back to nbio's pool when OnMessage returns
		// (writes copy what they cannot send at once).
		ReleaseWebsocketPayload: true,
		// One frame per message, as the client sent it, instead of
		// splitting at 32 KiB.
		MaxWebsocketFramePayloadSize: MaxMessage,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = up.Upgrade(w, r, nil) // it answers errors itself
		}),
	}
	if o.TLS() {
		// wss:// with nbio's own TLS (llib's fork of crypto/tls), driven
		// by its event loop: no goroutine per connection either.
		cert, err := nbtls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return "", nil, err
		}
		conf.Addrs, conf.AddrsTLS = nil, addrs
		conf.TLSConfig = &nbtls.Config{Certificates: []nbtls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	}
	engine := nbhttp.NewEngine(conf)
	if err := engine.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = engine.Shutdown(ctx)
	}
	return addrs[0], stop, nil
}
