package peers

import (
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// gorillaServer is gorilla/websocket as its examples use it: net/http, an
// Upgrader, and the handler goroutine of each connection as its reader.
type gorillaServer struct{}

// gorillaConn serializes data writes: gorilla allows one concurrent writer
// per connection, and in broadcast mode every sender's reader writes to
// every connection. (Pings and closes go through WriteControl, which gorilla
// serializes itself.)
type gorillaConn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (gorillaServer) Serve(addr string, o Options) (string, func(), error) {
	// wss://: crypto/tls under net/http, in each connection's goroutine.
	ln, err := o.listen(addr)
	if err != nil {
		return "", nil, err
	}
	var conns connSet[*gorillaConn]
	// Default 4 KiB read and write buffers; compression (no context
	// takeover, the only mode gorilla has) only when asked. A negotiated
	// connection compresses every message it writes.
	up := websocket.Upgrader{EnableCompression: o.Compress}
	broadcast := o.Broadcast
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		defer ws.Close()
		ws.SetReadLimit(MaxMessage) // 1009 past it; no deadline: no idle timeout
		c := &gorillaConn{ws: ws}
		conns.add(c)
		defer conns.remove(c)
		for {
			// ReadMessage is one allocation per message, reclaimed by
			// the GC: a per-connection buffer grown to the largest
			// message would pin up to 16 MiB on every connection.
			mt, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if !broadcast {
				// This goroutine is the only data writer in echo mode.
				// WriteMessage on a server conn is one frame, header
				// and payload in one writev, no copy of large data.
				if err := ws.WriteMessage(mt, data); err != nil {
					return
				}
				continue
			}
			// A PreparedMessage encodes the frame once, on first write,
			// and every other connection writes the same bytes.
			pm, err := websocket.NewPreparedMessage(mt, data)
			if err != nil {
				return
			}
			for _, o := range conns.list() {
				o.mu.Lock()
				_ = o.ws.WritePreparedMessage(pm) // a failed peer's reader ends it
				o.mu.Unlock()
			}
		}
	})}
	go func() { _ = hs.Serve(ln) }()
	stop := func() {
		_ = hs.Close() // the listener; hijacked connections are ours to close
		for _, c := range conns.list() {
			_ = c.ws.Close()
		}
	}
	return ln.Addr().String(), stop, nil
}
