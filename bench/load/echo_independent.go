package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal/bench/load/rawws"
)

// echoStagger spreads the independent echo clients' first messages:
// connection i of n sends its first at i/n of it, so they do not start
// in step; the window opens once all have.
const echoStagger = 100 * time.Millisecond

// EchoIndependent is Echo with independent clients: a goroutine per
// connection, each keeping inflight messages of size bytes in flight
// and sending the next only when an echo comes back. Every echo is
// checked: its length, its sequence number (in order), its filler byte
// for byte. The window opens once every connection has sent its first
// message, and Phase holds the server's and this process's CPU over it.
//
// With rate > 0 (round trips/s asked of all the connections together)
// the echo is paced, one message in flight: connection i of n sends its
// k-th message at (i/n + k)·n/rate after the start, so the server sees
// an even stream, never a burst, and its cost per message at a load it
// can carry. An echo back late delays the next message, whose latency
// counts from when it was due.
func EchoIndependent(ctx context.Context, addr string, conns, size, inflight int, rate float64, duration time.Duration, in Independent) (EchoResult, error) {
	size = max(size, headerLen)
	inflight = max(inflight, 1)
	res := EchoResult{Conns: conns, Size: size, Inflight: inflight, Client: ClientIndependent,
		PayloadBytes: float64(size), Rate: rate}
	if rate < 0 || rate > 0 && inflight > 1 {
		return res, fmt.Errorf("load: a paced echo (rate %v) keeps one message in flight, not %d", rate, inflight)
	}
	all, failed, derr := dialRaw(ctx, addr, conns, in.TLS)
	res.DialErrors, res.DialError = failed, errString(derr)
	open := openOnly(all)
	if len(open) == 0 {
		return res, errors.Join(errors.New("load: no connection opened"), derr)
	}
	run := &rawEcho{size: size, inflight: inflight, pattern: filler(size), base: time.Now()}
	run.running.Store(true)
	// Unpaced, the first messages spread over echoStagger; paced, over
	// one period, each connection's phase in its schedule.
	ramp, period := echoStagger, time.Duration(0)
	if rate > 0 {
		period = time.Duration(float64(len(open)) / rate * float64(time.Second))
		ramp = period
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range open {
		first := start.Add(ramp * time.Duration(i) / time.Duration(len(open)))
		wg.Go(func() { run.conn(c, i, first, period) })
	}
	sleepCtx(ctx, time.Until(start.Add(ramp)))
	from, got0 := markCPU(in.ServerPID), run.received.Load()
	sleepCtx(ctx, duration)
	to, got1 := markCPU(in.ServerPID), run.received.Load()
	run.running.Store(false)
	res.Seconds = to.at.Sub(from.at).Seconds()
	res.RoundTripsPerSec = float64(got1-got0) / res.Seconds
	var perr error
	res.Phase, perr = phase(from, to, got1-got0)
	// Each goroutine ends once its last echo is back: their end is the
	// drain's.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		res.Drained = true
	case <-time.After(in.drain(echoDrainTimeout)):
	}
	run.ending.Store(true)
	closeRaw(open)
	<-done
	run.fill(&res)
	return res, perr
}

// rawEcho is the state an independent echo run's goroutines share.
type rawEcho struct {
	size, inflight int
	pattern        []byte    // every message: the header, then this
	base           time.Time // timestamps are nanoseconds since base
	running        atomic.Bool
	ending         atomic.Bool // closes from here on are ours

	sent, received, reordered, malformed atomic.Uint64
	sendErrs, dropped, wireIn            atomic.Uint64
	hist                                 histShards
}

// conn is connection i's goroutine: it sends its first messages at
// first, then one for each echo while the run goes on (paced: message k
// not before first + k·period), and returns when none is in flight any
// more or the connection ends.
func (r *rawEcho) conn(c *rawws.Conn, i int, first time.Time, period time.Duration) {
	defer func() { r.wireIn.Add(c.BytesIn()) }()
	time.Sleep(time.Until(first))
	msg := bytes.Clone(r.pattern)
	var next, inFlight uint64
	var check seqCheck
	send := func() bool {
		ts := time.Since(r.base)
		if period > 0 {
			due := first.Add(time.Duration(next) * period)
			time.Sleep(time.Until(due))
			if !r.running.Load() {
				return false
			}
			ts = max(due.Sub(r.base), 0)
		}
		putHeader(msg, next, int64(ts))
		if err := c.WriteMessage(rawws.OpBinary, msg); err != nil {
			if !r.ending.Load() {
				r.sendErrs.Add(1)
			}
			return false
		}
		next++
		inFlight++
		r.sent.Add(1)
		return true
	}
	for range r.inflight {
		if !r.running.Load() || !send() {
			break
		}
	}
	for inFlight > 0 {
		m, err := c.Next()
		if err != nil {
			if !r.ending.Load() {
				r.dropped.Add(1)
			}
			return
		}
		at := int64(m.At.Sub(r.base))
		seq, ts, ok := getHeader(m.Payload)
		if !ok || seq >= next || ts < 0 || ts > at || !r.intact(m.Payload) {
			r.malformed.Add(1)
			continue
		}
		r.hist.record(i, time.Duration(at-ts))
		r.received.Add(1)
		inFlight--
		if !check.see(seq) {
			r.reordered.Add(1)
		}
		if r.running.Load() && !send() {
			return
		}
	}
}

// intact reports whether an echo has the run's size and filler.
func (r *rawEcho) intact(p []byte) bool {
	return len(p) == r.size && bytes.Equal(p[headerLen:], r.pattern[headerLen:])
}

func (r *rawEcho) fill(res *EchoResult) {
	res.Sent, res.Received = r.sent.Load(), r.received.Load()
	if res.Sent > res.Received {
		res.Lost = res.Sent - res.Received
	}
	res.Reordered, res.Malformed = r.reordered.Load(), r.malformed.Load()
	res.SendErrors, res.Dropped = r.sendErrs.Load(), r.dropped.Load()
	res.Latency = r.hist.summary()
	if res.Received > 0 {
		res.WireBytesPerMsg = float64(r.wireIn.Load()) / float64(res.Received)
	}
}
