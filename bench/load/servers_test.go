package load

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
)

// serve starts an in-process shoal server on a free loopback port with
// the handler that build makes (it gets the server, for Broadcast).
func serve(t *testing.T, build func(srv **shoal.Server) shoal.Handler) string {
	t.Helper()
	var srv *shoal.Server
	h := build(&srv)
	// Compression is negotiated only with clients that offer it, as
	// the Compress mode does.
	s, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", Handler: h, Inline: true, Shards: 2,
		Compression: shoal.Compression{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv = s
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return addr.String()
}

func echoServer(**shoal.Server) shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) }}
}

func broadcastServer(srv **shoal.Server) shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) { (*srv).Broadcast(m.Type, m.Data) }}
}

// perConn is a test server's state for one connection: calls for one
// connection never overlap, so it needs no lock.
type perConn struct {
	n    int
	held []byte
}

func stateOf(c *shoal.Conn) *perConn {
	if p, ok := c.Value().(*perConn); ok {
		return p
	}
	p := &perConn{}
	c.SetValue(p)
	return p
}

// lossyEcho drops every 10th message of each connection.
func lossyEcho(**shoal.Server) shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		p := stateOf(c)
		if p.n++; p.n%10 != 0 {
			c.Send(m.Type, m.Data)
		}
	}}
}

// swappingEcho echoes each connection's 6th message after its 7th.
func swappingEcho(**shoal.Server) shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		p := stateOf(c)
		p.n++
		switch p.n {
		case 6:
			p.held = append([]byte(nil), m.Data...)
		case 7:
			c.Send(m.Type, m.Data)
			c.Send(m.Type, p.held)
		default:
			c.Send(m.Type, m.Data)
		}
	}}
}

// lossyBroadcast skips every 10th message it receives.
func lossyBroadcast(srv **shoal.Server) shoal.Handler {
	var n atomic.Uint64
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		if n.Add(1)%10 != 0 {
			(*srv).Broadcast(m.Type, m.Data)
		}
	}}
}

// swappingBroadcast broadcasts every 10th message after the one that
// follows it. Handlers run on two shards: the mutex orders them.
func swappingBroadcast(srv **shoal.Server) shoal.Handler {
	var mu sync.Mutex
	var n int
	var held []byte
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		mu.Lock()
		defer mu.Unlock()
		n++
		switch {
		case n%10 == 0:
			held = append([]byte(nil), m.Data...)
		case held != nil:
			(*srv).Broadcast(m.Type, m.Data)
			(*srv).Broadcast(m.Type, held)
			held = nil
		default:
			(*srv).Broadcast(m.Type, m.Data)
		}
	}}
}

// corruptingEcho alters a byte of every 5th message's filler.
func corruptingEcho(**shoal.Server) shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		p := stateOf(c)
		if p.n++; p.n%5 == 0 && len(m.Data) > 20 {
			m.Data[20] ^= 0xFF
		}
		c.Send(m.Type, m.Data)
	}}
}

// closingEcho closes each connection, with 1011, at its 3rd message.
func closingEcho(**shoal.Server) shoal.Handler {
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		p := stateOf(c)
		if p.n++; p.n == 3 {
			c.Close(shoal.StatusInternalError, "test")
			return
		}
		c.Send(m.Type, m.Data)
	}}
}

// corruptingBroadcast alters a byte of every 7th message's filler.
func corruptingBroadcast(srv **shoal.Server) shoal.Handler {
	var n atomic.Uint64
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		if n.Add(1)%7 == 0 && len(m.Data) > 20 {
			m.Data[20] ^= 0xFF
		}
		(*srv).Broadcast(m.Type, m.Data)
	}}
}

// stallingBroadcast broadcasts the first 20 messages, then nothing: the
// rest never leave it.
func stallingBroadcast(srv **shoal.Server) shoal.Handler {
	var n atomic.Uint64
	return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
		if seq, _, ok := getHeader(m.Data); ok && seq>>32 == probeID || n.Add(1) <= 20 {
			(*srv).Broadcast(m.Type, m.Data)
		}
	}}
}
