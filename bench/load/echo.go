package load

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal"
)

// EchoResult is what Echo measured. Lost and Reordered must be 0 against
// a correct server.
type EchoResult struct {
	Conns            int     `json:"conns"`
	Size             int     `json:"size"`
	Inflight         int     `json:"inflight"`
	Rate             float64 `json:"rate,omitempty"` // round trips/s asked (paced); 0: as fast as echoes come
	Seconds          float64 `json:"seconds"`        // the measured window
	DialErrors       int     `json:"dial_errors"`
	DialError        string  `json:"dial_error,omitempty"`
	Sent             uint64  `json:"sent"`
	Received         uint64  `json:"received"`
	Lost             uint64  `json:"lost"`
	Reordered        uint64  `json:"reordered"`
	Malformed        uint64  `json:"malformed"`   // short or wrong-size echoes
	SendErrors       uint64  `json:"send_errors"` // Sends refused (outbound full)
	Dropped          uint64  `json:"dropped"`     // conns closed before the end
	Drained          bool    `json:"drained"`     // every echo came back
	RoundTripsPerSec float64 `json:"round_trips_per_sec"`
	Latency          Latency `json:"latency"`
	Mode             Mode    `json:"mode"`
	// PayloadBytes is the mean message size; WireBytesPerMsg what each
	// echo took on the wire from the server, frame header included.
	PayloadBytes    float64 `json:"payload_bytes"`
	WireBytesPerMsg float64 `json:"wire_bytes_per_msg"`
	// Client is the load client that ran it: ClientReactor or
	// ClientIndependent.
	Client string `json:"client"`
	// Phase is the CPU over the window (independent client only).
	Phase *PhaseCPU `json:"phase,omitempty"`
}

// Echo keeps inflight messages of size bytes in flight on each of conns
// connections to an echo server at addr for duration: each echo that
// comes back is checked for order and answered with the next message.
func Echo(ctx context.Context, addr string, conns, size, inflight int, duration time.Duration, mode Mode) (EchoResult, error) {
	if size < headerLen {
		size = headerLen
	}
	cl, err := newClient(addr, mode)
	if err != nil {
		return EchoResult{}, err
	}
	defer cl.close()
	run := &echoRun{cl: cl, size: size, pl: newPayloads(size, mode)}
	res := EchoResult{Conns: conns, Size: size, Inflight: inflight, Mode: mode, Client: ClientReactor}
	open, failed, derr := run.dial(ctx, conns)
	res.DialErrors, res.DialError = failed, errString(derr)
	if len(open) == 0 {
		return res, errors.Join(errors.New("load: no connection opened"), derr)
	}
	start := time.Now()
	bytesIn0, msgsIn0, _ := cl.wire()
	run.start(open, inflight)
	sleepCtx(ctx, duration)
	window, inWindow := run.stop(open, start)
	res.Seconds = window.Seconds()
	res.RoundTripsPerSec = float64(inWindow) / window.Seconds()
	res.Drained = run.drain(echoDrainTimeout)
	run.fill(&res)
	if bytesIn, msgsIn, _ := cl.wire(); msgsIn > msgsIn0 {
		res.WireBytesPerMsg = float64(bytesIn-bytesIn0) / float64(msgsIn-msgsIn0)
	}
	if res.Received > 0 {
		res.PayloadBytes = float64(run.payloadBytes.Load()) / float64(res.Received)
	}
	return res, nil
}

// echoDrainTimeout bounds the wait for the last echoes; a variable so
// that tests of a lossy server need not wait it out.
var echoDrainTimeout = 5 * time.Second

// echoRun is the state shared by an echo scenario's connections.
type echoRun struct {
	cl      *client
	size    int
	pl      payloads
	running atomic.Bool // answer echoes with the next message
	ending  atomic.Bool // closes from here on are ours

	sent, received, reordered, malformed atomic.Uint64
	sendErrs, dropped                    atomic.Uint64
	payloadBytes                         atomic.Uint64 // of the echoes received
	hist                                 Histogram
}

// echoConn is one connection's state.
type echoConn struct {
	run *echoRun
	// mu orders sequence numbers with Sends: the first messages go out
	// from the scenario's goroutine, the rest from the shard thread.
	mu       sync.Mutex
	buf      []byte
	nextSend uint64
	check    seqCheck // receive side: only the handler touches it
}

func (r *echoRun) dial(ctx context.Context, n int) (open []*shoal.Conn, failed int, err error) {
	values := make([]receiver, n)
	for i := range values {
		values[i] = &echoConn{run: r, buf: make([]byte, r.size)}
	}
	conns, failed, err := r.cl.dialAll(ctx, values, 32)
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	return open, failed, err
}

// start puts inflight messages in flight on every connection.
func (r *echoRun) start(conns []*shoal.Conn, inflight int) {
	r.running.Store(true)
	for _, c := range conns {
		e := c.Value().(*echoConn)
		for range inflight {
			e.send(c)
		}
	}
}

// stop ends sending and returns the window's length and the echoes
// received within it. Taking every connection's lock once afterwards
// is a barrier: no send that saw running == true is still under way.
func (r *echoRun) stop(conns []*shoal.Conn, start time.Time) (time.Duration, uint64) {
	r.running.Store(false)
	window, got := time.Since(start), r.received.Load()
	for _, c := range conns {
		e := c.Value().(*echoConn)
		e.mu.Lock()
		e.mu.Unlock() //lint:ignore SA2001 a barrier, see above
	}
	return window, got
}

// drain waits for every message sent to come back.
func (r *echoRun) drain(timeout time.Duration) bool {
	_, ok := waitUntil(timeout, func() bool { return r.received.Load() >= r.sent.Load() })
	r.ending.Store(true)
	return ok
}

func (r *echoRun) fill(res *EchoResult) {
	res.Sent, res.Received = r.sent.Load(), r.received.Load()
	if res.Sent > res.Received {
		res.Lost = res.Sent - res.Received
	}
	res.Reordered, res.Malformed = r.reordered.Load(), r.malformed.Load()
	res.SendErrors, res.Dropped = r.sendErrs.Load(), r.dropped.Load()
	res.Latency = r.hist.Summary()
}

// send sends the connection's next message if the run is still going.
func (e *echoConn) send(c *shoal.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.run.running.Load() {
		return
	}
	e.buf = e.run.pl.message(e.buf, e.nextSend)
	putHeader(e.buf, e.nextSend, e.run.cl.now())
	if err := c.Send(shoal.Binary, e.buf); err != nil {
		// Not queued: the sequence number is reused, so a refused
		// Send is not mistaken for a lost message.
		e.run.sendErrs.Add(1)
		return
	}
	e.nextSend++
	e.run.sent.Add(1)
}

func (e *echoConn) onMessage(c *shoal.Conn, data []byte) {
	r := e.run
	seq, ts, ok := getHeader(data)
	if !ok || len(data) != r.pl.sizeOf(seq) {
		r.malformed.Add(1)
		return
	}
	r.hist.Record(time.Duration(r.cl.now() - ts))
	r.received.Add(1)
	r.payloadBytes.Add(uint64(len(data)))
	if !e.check.see(seq) {
		r.reordered.Add(1)
	}
	e.send(c)
}

func (e *echoConn) onClose(err error) {
	if !e.run.ending.Load() {
		e.run.dropped.Add(1)
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
