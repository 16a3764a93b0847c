// Package load drives a WebSocket server with many connections and
// measures it: idle connections, echo round trips, broadcast fan-out and
// connection churn. The connections belong to a shoal.Server in the
// client role, so tens of thousands of them cost no goroutine each and
// the load generator stays cheap next to the server it measures.
package load

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/internal/chatjson"
)

// headerLen is the part of every payload the scenarios own: a sequence
// number (or publisher and sequence) then the send time.
const headerLen = 16

// gapCount counts, over every stream of a run, the sequence numbers
// skipped over (a later one came first) and those that came late: what
// was skipped and never came is lost, whatever else was still on its
// way when the run ended.
type gapCount struct{ skipped, late atomic.Uint64 }

// see records seq on s, counting a gap or a late arrival; it reports
// whether seq came in order. The counters are touched only then, which
// a correct server never causes.
func (g *gapCount) see(s *seqCheck, seq uint64) bool {
	next := s.next
	if !s.see(seq) {
		g.late.Add(1)
		return false
	}
	if seq > next {
		g.skipped.Add(seq - next)
	}
	return true
}

// missing is what was skipped over and never came late.
func (g *gapCount) missing() uint64 {
	s, l := g.skipped.Load(), g.late.Load()
	if l >= s {
		return 0
	}
	return s - l
}

// receiver is what a dialed connection's Value holds: the scenario's
// state for that connection. Calls for one connection never overlap
// (shoal's actor guarantee), so receivers need no lock of their own for
// receive-side state.
type receiver interface {
	onMessage(c *shoal.Conn, data []byte)
	onClose(err error)
}

// dispatch is the client server's Handler: it hands each event to the
// connection's receiver. It holds no state, so one value serves all.
type dispatch struct{}

func (dispatch) OnOpen(*shoal.Conn) {}

func (dispatch) OnMessage(c *shoal.Conn, m shoal.Message) {
	if r, ok := c.Value().(receiver); ok {
		r.onMessage(c, m.Data)
	}
}

func (dispatch) OnClose(c *shoal.Conn, err error) {
	if r, ok := c.Value().(receiver); ok {
		r.onClose(err)
	}
}

// client is the shoal.Server whose dialed connections make the load.
type client struct {
	srv  *shoal.Server
	url  string
	tls  *tls.Config // wss:// when set
	base time.Time   // timestamps are monotonic nanoseconds since base
}

// Mode is how a scenario's connections talk.
type Mode struct {
	// Compress offers permessage-deflate and sends chat-like JSON
	// (200 to 2,000 bytes, internal/chatjson) in place of filler: the
	// traffic compression is for. Size settings are then ignored.
	Compress bool `json:"compress,omitempty"`
	// Takeover, with Compress, asks for context takeover both ways.
	Takeover bool `json:"takeover,omitempty"`
	// Exchange (idle only): each connection sends one message and waits
	// for its echo before idling, so that what a message leaves behind
	// on a connection is counted.
	Exchange bool `json:"exchange,omitempty"`
	// TLS, if set, makes the connections wss:// with this client
	// configuration: shoal's client role seals and opens on its shards.
	TLS *tls.Config `json:"-"`
}

func newClient(addr string, mode Mode) (*client, error) {
	// Inline: receivers never block, and running them on the shard
	// threads keeps the generator's own latency out of the numbers.
	srv, err := shoal.New(shoal.Config{Handler: dispatch{}, Inline: true,
		Compression: shoal.Compression{Enabled: mode.Compress,
			ServerContextTakeover: mode.Takeover, ClientContextTakeover: mode.Takeover}})
	if err != nil {
		return nil, err
	}
	scheme := "ws://"
	if mode.TLS != nil {
		scheme = "wss://"
	}
	return &client{srv: srv, url: scheme + addr + "/", tls: mode.TLS, base: time.Now()}, nil
}

// dial opens one connection carrying v as its receiver.
func (c *client) dial(ctx context.Context, v receiver) (*shoal.Conn, error) {
	return c.srv.Dial(ctx, c.url, &shoal.DialOptions{Value: v, TLS: c.tls})
}

// payloads are what a scenario sends: a fixed size of filler after the
// header, or, with compression, chat messages whose first headerLen
// bytes the header overwrites.
type payloads struct {
	size   int
	corpus [][]byte
}

func newPayloads(size int, mode Mode) payloads {
	if !mode.Compress {
		return payloads{size: size}
	}
	return payloads{corpus: chatjson.Messages(1, 1000)}
}

// message returns message seq in buf, which it may grow; the caller
// writes the header.
func (p payloads) message(buf []byte, seq uint64) []byte {
	if p.corpus == nil {
		if cap(buf) < p.size {
			buf = make([]byte, p.size)
		}
		return buf[:p.size]
	}
	return append(buf[:0], p.corpus[seq%uint64(len(p.corpus))]...)
}

// sizeOf is the length of message seq.
func (p payloads) sizeOf(seq uint64) int {
	if p.corpus == nil {
		return p.size
	}
	return len(p.corpus[seq%uint64(len(p.corpus))])
}

// wire reads the client's byte and message counters: what crossed the
// wire, frame headers and compression included.
func (c *client) wire() (bytesIn, msgsIn, bytesOut uint64) {
	st := c.srv.Stats()
	return st.BytesIn, st.MessagesIn, st.BytesOut
}

// now is the monotonic time since c.base, the unit of payload timestamps.
func (c *client) now() int64 { return int64(time.Since(c.base)) }

// close ends every connection with a close handshake, bounded.
func (c *client) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.srv.Shutdown(ctx)
}

// dialAll opens len(values) connections, at most parallel at a time,
// each carrying values[i] as its receiver. conns[i] is nil where the
// dial failed; failures are counted and the first one is kept.
func (c *client) dialAll(ctx context.Context, values []receiver, parallel int) (conns []*shoal.Conn, failed int, firstErr error) {
	conns = make([]*shoal.Conn, len(values))
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(parallel, len(values)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(values) || ctx.Err() != nil {
					return
				}
				sc, err := c.dial(ctx, values[i])
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
				conns[i] = sc
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && firstErr == nil {
		firstErr = ctx.Err()
	}
	return conns, failed, firstErr
}

// putHeader writes a sequence number and a timestamp at the start of b.
func putHeader(b []byte, seq uint64, ts int64) {
	binary.LittleEndian.PutUint64(b[0:8], seq)
	binary.LittleEndian.PutUint64(b[8:16], uint64(ts))
}

// getHeader reads what putHeader wrote; ok is false for a short payload.
func getHeader(b []byte) (seq uint64, ts int64, ok bool) {
	if len(b) < headerLen {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[0:8]), int64(binary.LittleEndian.Uint64(b[8:16])), true
}

// seqCheck follows one ordered stream. A sequence number below the next
// expected one arrived late: a reorder (or a duplicate). One above it
// means the ones between are missing for now; they count as lost unless
// they turn up later, which the caller finds by comparing totals sent
// and received.
type seqCheck struct{ next uint64 }

// see records seq and reports whether it arrived in order.
func (s *seqCheck) see(seq uint64) bool {
	switch {
	case seq == s.next:
		s.next++
		return true
	case seq > s.next:
		s.next = seq + 1
		return true
	}
	return false
}

// isNormalClose reports whether err is a close this side expects: 1000
// or 1001, which Shutdown sends.
func isNormalClose(err error) bool {
	var ce *shoal.CloseError
	if !errors.As(err, &ce) {
		return false
	}
	return ce.Code == shoal.StatusNormalClosure || ce.Code == shoal.StatusGoingAway
}

// waitUntil polls cond every millisecond until it holds or timeout
// passes, and returns how long it waited and whether cond held.
func waitUntil(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(time.Millisecond)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
