package load

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal"
)

// BroadcastResult is what Broadcast measured. Lost and Reordered must be
// 0 against a correct server.
type BroadcastResult struct {
	Subscribers      int     `json:"subscribers"`
	Publishers       int     `json:"publishers"`
	Rate             float64 `json:"rate"` // messages/s asked for, all publishers
	Size             int     `json:"size"`
	Seconds          float64 `json:"seconds"` // publishing window
	DialErrors       int     `json:"dial_errors"`
	DialError        string  `json:"dial_error,omitempty"`
	Published        uint64  `json:"published"`
	Expected         uint64  `json:"expected"` // published × subscribers
	Delivered        uint64  `json:"delivered"`
	Lost             uint64  `json:"lost"`
	Reordered        uint64  `json:"reordered"`
	Malformed        uint64  `json:"malformed"`
	SendErrors       uint64  `json:"send_errors"`
	Dropped          uint64  `json:"dropped"` // subscribers closed before the end
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Drained          bool    `json:"drained"`
	DrainSeconds     float64 `json:"drain_seconds"` // publishing stopped → last delivery
	Latency          Latency `json:"latency"`       // publish → receive
	Mode             Mode    `json:"mode"`
	// PayloadBytes is the mean message size; WireBytesPerMsg what each
	// delivery took on the wire, frame header included.
	PayloadBytes    float64 `json:"payload_bytes"`
	WireBytesPerMsg float64 `json:"wire_bytes_per_msg"`
	// Skipped counts messages missing from a subscriber's stream when a
	// later one of the same publisher arrived, that never came after:
	// loss even when the drain bound ran out before the rest of the
	// backlog arrived, where Lost also counts what was still on its way.
	Skipped uint64 `json:"skipped"`
	// Client is the load client that ran it: ClientReactor or
	// ClientIndependent.
	Client string `json:"client"`
	// Phase is the CPU over publishing and the drain (independent
	// client only).
	Phase *PhaseCPU `json:"phase,omitempty"`
}

// Behind is what was still on its way when the drain bound ran out:
// expected, not delivered, and not skipped over.
func (r BroadcastResult) Behind() uint64 {
	if r.Expected <= r.Delivered+r.Skipped {
		return 0
	}
	return r.Expected - r.Delivered - r.Skipped
}

// broadcastDrainTimeout bounds the wait for the last deliveries; a
// variable so that tests of a lossy server need not wait it out.
var broadcastDrainTimeout = 30 * time.Second

// probeID marks warm-up messages, which are not counted.
const probeID = 1<<32 - 1

// Broadcast connects subs subscribers to a broadcasting server at addr
// (one that sends every message it receives to every connection, the
// sender included); the first pubs of them publish rate messages/s in
// all, round-robin, for duration. Every subscriber checks that it gets
// every publisher's messages in order.
func Broadcast(ctx context.Context, addr string, subs, pubs int, rate float64, size int, duration time.Duration, mode Mode) (BroadcastResult, error) {
	size = max(size, headerLen)
	res := BroadcastResult{Subscribers: subs, Publishers: pubs, Rate: rate, Size: size, Mode: mode, Client: ClientReactor}
	if pubs < 1 || pubs > subs || rate <= 0 {
		return res, fmt.Errorf("load: need 1 <= publishers (%d) <= subscribers (%d) and a rate > 0", pubs, subs)
	}
	cl, err := newClient(addr, mode)
	if err != nil {
		return res, err
	}
	defer cl.close()
	run := &bcastRun{cl: cl, pubs: pubs, size: size, pl: newPayloads(size, mode)}
	open, failed, derr := run.dial(ctx, subs)
	res.DialErrors, res.DialError = failed, errString(derr)
	if len(open) < pubs {
		return res, errors.Join(errors.New("load: too few connections opened"), derr)
	}
	if !run.warmUp(ctx, open[0], len(open)) {
		return res, errors.New("load: not every subscriber got the warm-up message in 10s")
	}
	bytesIn0, msgsIn0, _ := cl.wire()
	window := run.publish(ctx, open[:pubs], rate, duration)
	inWindow := run.delivered.Load()
	expected := run.published.Load() * uint64(len(open))
	drain, ok := waitUntil(broadcastDrainTimeout, func() bool { return run.delivered.Load() >= expected })
	run.ending.Store(true)
	res.Seconds, res.Expected = window.Seconds(), expected
	res.DeliveriesPerSec = float64(inWindow) / window.Seconds()
	res.Drained, res.DrainSeconds = ok, drain.Seconds()
	run.fill(&res)
	if bytesIn, msgsIn, _ := cl.wire(); msgsIn > msgsIn0 {
		res.WireBytesPerMsg = float64(bytesIn-bytesIn0) / float64(msgsIn-msgsIn0)
	}
	if res.Delivered > 0 {
		res.PayloadBytes = float64(run.payloadBytes.Load()) / float64(res.Delivered)
	}
	return res, nil
}

// bcastRun is the state shared by a broadcast scenario's connections.
type bcastRun struct {
	cl   *client
	pubs int
	size int
	pl   payloads

	ending                          atomic.Bool
	probed                          atomic.Int64 // subscribers that saw a probe
	published, delivered, reordered atomic.Uint64
	malformed, sendErrs, dropped    atomic.Uint64
	gaps                            gapCount
	payloadBytes                    atomic.Uint64 // of the deliveries
	hist                            Histogram
}

// bcastSub is one subscriber's state; only its handler touches it.
type bcastSub struct {
	run    *bcastRun
	probed bool
	checks []seqCheck // one per publisher
}

func (r *bcastRun) dial(ctx context.Context, n int) (open []*shoal.Conn, failed int, err error) {
	values := make([]receiver, n)
	for i := range values {
		values[i] = &bcastSub{run: r, checks: make([]seqCheck, r.pubs)}
	}
	conns, failed, err := r.cl.dialAll(ctx, values, 32)
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	return open, failed, err
}

// warmUp sends probes until every subscriber has seen one: a server may
// register a connection a little after its handshake answer, and a
// message published before would be missed through no fault of its own.
func (r *bcastRun) warmUp(ctx context.Context, c *shoal.Conn, n int) bool {
	buf := make([]byte, r.size)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		buf = r.pl.message(buf, 0)
		putHeader(buf, probeID<<32, r.cl.now())
		c.Send(shoal.Binary, buf)
		if _, ok := waitUntil(100*time.Millisecond, func() bool { return r.probed.Load() >= int64(n) }); ok {
			return true
		}
	}
	return false
}

// publish paces messages over the publishers, round-robin, at rate per
// second in all, until duration passes; it returns the window's length.
// Only this goroutine sends, so each publisher's messages go out in
// sequence order.
func (r *bcastRun) publish(ctx context.Context, pubs []*shoal.Conn, rate float64, duration time.Duration) time.Duration {
	bufs := make([][]byte, len(pubs))
	seqs := make([]uint64, len(pubs))
	for i := range bufs {
		bufs[i] = make([]byte, r.size)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var tried uint64
	k := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= duration || ctx.Err() != nil {
			return elapsed
		}
		for due := uint64(elapsed.Seconds() * rate); tried < due; tried++ {
			bufs[k] = r.pl.message(bufs[k], seqs[k])
			putHeader(bufs[k], uint64(k)<<32|seqs[k], r.cl.now())
			if pubs[k].Send(shoal.Binary, bufs[k]) != nil {
				r.sendErrs.Add(1) // not queued: the sequence number is reused
			} else {
				seqs[k]++
				r.published.Add(1)
			}
			k = (k + 1) % len(pubs)
		}
		<-tick.C
	}
}

func (r *bcastRun) fill(res *BroadcastResult) {
	res.Published, res.Delivered = r.published.Load(), r.delivered.Load()
	if res.Expected > res.Delivered {
		res.Lost = res.Expected - res.Delivered
	}
	res.Reordered, res.Malformed = r.reordered.Load(), r.malformed.Load()
	res.SendErrors, res.Dropped = r.sendErrs.Load(), r.dropped.Load()
	res.Latency = r.hist.Summary()
	res.Skipped = r.gaps.missing()
}

func (s *bcastSub) onMessage(_ *shoal.Conn, data []byte) {
	r := s.run
	id, ts, ok := getHeader(data)
	pub, seq := id>>32, id&(1<<32-1)
	switch {
	case ok && pub == probeID:
		if !s.probed {
			s.probed = true
			r.probed.Add(1)
		}
		return
	case !ok || pub >= uint64(len(s.checks)) || len(data) != r.pl.sizeOf(seq):
		r.malformed.Add(1)
		return
	}
	r.hist.Record(time.Duration(r.cl.now() - ts))
	r.delivered.Add(1)
	r.payloadBytes.Add(uint64(len(data)))
	if !r.gaps.see(&s.checks[pub], seq) {
		r.reordered.Add(1)
	}
}

func (s *bcastSub) onClose(err error) {
	if !s.run.ending.Load() {
		s.run.dropped.Add(1)
	}
}
