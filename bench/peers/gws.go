package peers

import (
	"net/http"

	"github.com/lxzan/gws"
)

// gwsServer is lxzan/gws in its event-handler model: net/http upgrades,
// then the connection's ReadLoop calls OnMessage with each whole message.
type gwsServer struct{}

type gwsHandler struct {
	gws.BuiltinEventHandler
	broadcast bool
	conns     *connSet[*gws.Conn]
}

func (h *gwsHandler) OnOpen(c *gws.Conn) { h.conns.add(c) }

func (h *gwsHandler) OnClose(c *gws.Conn, _ error) { h.conns.remove(c) }

// OnPing answers: gws leaves pongs to the application.
func (h *gwsHandler) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	// The payload is a pooled buffer: give it back once written.
	defer m.Close()
	if !h.broadcast {
		_ = c.WriteMessage(m.Opcode, m.Bytes())
		return
	}
	// A Broadcaster encodes the frame once, on the first Broadcast, and
	// queues that frame on every connection's async write queue. Without
	// compression it never reads the payload again, so m may be released
	// as soon as the loop ends; Close frees the frame after the last write.
	b := gws.NewBroadcaster(m.Opcode, m.Bytes())
	for _, o := range h.conns.list() {
		_ = b.Broadcast(o, nil)
	}
	_ = b.Close()
}

func (gwsServer) Serve(addr string, o Options) (string, func(), error) {
	// wss://: crypto/tls under net/http, in each connection's goroutine.
	ln, err := o.listen(addr)
	if err != nil {
		return "", nil, err
	}
	conns := &connSet[*gws.Conn]{}
	up := gws.NewUpgrader(&gwsHandler{broadcast: o.Broadcast, conns: conns}, &gws.ServerOption{
		// Off: OnMessage runs on the reader, one message at a time, so an
		// echo keeps the order messages came in.
		ParallelEnabled:     false,
		ReadMaxPayloadSize:  MaxMessage,
		WriteMaxPayloadSize: MaxMessage,
		PermessageDeflate: gws.PermessageDeflate{Enabled: o.Compress,
			ServerContextTakeover: o.Takeover, ClientContextTakeover: o.Takeover},
	})
	// net/http rather than gws.Server: gws.Server's accept loop retries
	// forever once its listener is closed, so it cannot be stopped.
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop() // this handler goroutine is the reader; no deadline
	})}
	go func() { _ = hs.Serve(ln) }()
	stop := func() {
		_ = hs.Close()
		for _, c := range conns.list() {
			_ = c.NetConn().Close()
		}
	}
	return ln.Addr().String(), stop, nil
}
