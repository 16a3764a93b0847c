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

// BroadcastIndependent is Broadcast with independent clients: a
// goroutine per subscriber reading its connection, and one per
// publisher (the first pubs subscribers) sending on its own schedule.
// Message g of the run is due at start + g/rate and goes out from
// publisher g mod pubs, so the publishers take turns, spread over time,
// never in step. A publisher that falls behind (its socket full) sends
// what is due at once; each message carries the time it was due, so
// the latency of a server too slow to take the load is counted from
// when it was asked, not from when it let the publisher send (no
// coordinated omission). Every delivery is checked: size, filler byte
// for byte, and order per publisher.
//
// The drain waits for every delivery, up to in.Drain (default 30 s).
// Phase holds the server's and this process's CPU from the first
// publish to the end of the drain.
func BroadcastIndependent(ctx context.Context, addr string, subs, pubs int, rate float64, size int, duration time.Duration, in Independent) (BroadcastResult, error) {
	size = max(size, headerLen)
	res := BroadcastResult{Subscribers: subs, Publishers: pubs, Rate: rate, Size: size, Client: ClientIndependent,
		PayloadBytes: float64(size)}
	if pubs < 1 || pubs > subs || rate <= 0 {
		return res, fmt.Errorf("load: need 1 <= publishers (%d) <= subscribers (%d) and a rate > 0", pubs, subs)
	}
	all, failed, derr := dialRaw(ctx, addr, subs, in.TLS)
	res.DialErrors, res.DialError = failed, errString(derr)
	open := openOnly(all)
	if len(open) < pubs {
		closeRaw(open)
		return res, errors.Join(errors.New("load: too few connections opened"), derr)
	}
	run := &rawBcast{pubs: pubs, size: size, pattern: filler(size), base: time.Now()}
	var readers sync.WaitGroup
	for i, c := range open {
		readers.Go(func() { run.subscriber(c, i) })
	}
	stop := func() {
		run.ending.Store(true)
		closeRaw(open)
		readers.Wait()
	}
	if !run.warmUp(ctx, open[0], len(open)) {
		stop()
		return res, errors.New("load: not every subscriber got the warm-up message in 10s")
	}
	from := markCPU(in.ServerPID)
	window := run.publish(ctx, open[:pubs], rate, duration)
	inWindow := run.delivered.Load()
	expected := run.published.Load() * uint64(len(open))
	drain, ok := waitUntil(in.drain(broadcastDrainTimeout), func() bool { return run.delivered.Load() >= expected })
	to := markCPU(in.ServerPID)
	res.Seconds, res.Expected = window.Seconds(), expected
	res.DeliveriesPerSec = float64(inWindow) / window.Seconds()
	res.Drained, res.DrainSeconds = ok, drain.Seconds()
	var perr error
	res.Phase, perr = phase(from, to, run.delivered.Load())
	stop()
	run.fill(&res)
	return res, perr
}

// rawBcast is the state an independent broadcast run's goroutines
// share.
type rawBcast struct {
	pubs    int
	size    int
	pattern []byte    // every message: the header, then this
	base    time.Time // timestamps are nanoseconds since base
	ending  atomic.Bool

	probed                          atomic.Int64 // subscribers that saw a probe
	published, delivered, reordered atomic.Uint64
	malformed, sendErrs, dropped    atomic.Uint64
	wireIn                          atomic.Uint64
	gaps                            gapCount
	hist                            histShards
}

// warmUp sends probes until every subscriber has seen one, as
// Broadcast does.
func (r *rawBcast) warmUp(ctx context.Context, c *rawws.Conn, n int) bool {
	msg := bytes.Clone(r.pattern)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		putHeader(msg, probeID<<32, int64(time.Since(r.base)))
		if c.WriteMessage(rawws.OpBinary, msg) != nil {
			return false
		}
		if _, ok := waitUntil(100*time.Millisecond, func() bool { return r.probed.Load() >= int64(n) }); ok {
			return true
		}
	}
	return false
}

// publish runs the publishers for duration and returns the window's
// length: until the last of them has sent its last message due in it.
func (r *rawBcast) publish(ctx context.Context, pubs []*rawws.Conn, rate float64, duration time.Duration) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for k, c := range pubs {
		wg.Go(func() { r.publisher(ctx, c, k, len(pubs), start, rate, duration) })
	}
	wg.Wait()
	return time.Since(start)
}

// publisher k of n sends messages k, k+n, k+2n... of the run, each at
// its due time, until the next is due after duration.
func (r *rawBcast) publisher(ctx context.Context, c *rawws.Conn, k, n int, start time.Time, rate float64, duration time.Duration) {
	msg := bytes.Clone(r.pattern)
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		due := dueAt(uint64(k)+seq*uint64(n), rate)
		if due >= duration {
			return
		}
		if wait := time.Until(start.Add(due)); wait > 0 {
			time.Sleep(wait)
		}
		putHeader(msg, uint64(k)<<32|seq, int64(start.Add(due).Sub(r.base)))
		if c.WriteMessage(rawws.OpBinary, msg) != nil {
			r.sendErrs.Add(1)
			return
		}
		r.published.Add(1)
	}
}

// subscriber is connection i's reader: it checks every delivery, and
// adds its count to the run's once per read, before it would block.
func (r *rawBcast) subscriber(c *rawws.Conn, i int) {
	checks := make([]seqCheck, r.pubs)
	probed := false
	var pending uint64
	defer func() {
		r.delivered.Add(pending)
		r.wireIn.Add(c.BytesIn())
	}()
	for {
		if pending > 0 && !c.Ready() {
			r.delivered.Add(pending)
			pending = 0
		}
		m, err := c.Next()
		if err != nil {
			if !r.ending.Load() {
				r.dropped.Add(1)
			}
			return
		}
		switch r.receive(i, checks, m) {
		case delivery:
			pending++
		case probe:
			if !probed {
				probed = true
				r.probed.Add(1)
			}
		}
	}
}

// What a subscriber received.
const (
	delivery = iota
	probe
	malformed
)

// receive checks a message on subscriber i, whose streams from each
// publisher checks follows, and records its latency if it counts.
func (r *rawBcast) receive(i int, checks []seqCheck, m rawws.Message) int {
	id, ts, ok := getHeader(m.Payload)
	pub, seq := id>>32, id&(1<<32-1)
	switch {
	case ok && pub == probeID:
		return probe
	case !ok || pub >= uint64(len(checks)) || len(m.Payload) != r.size ||
		!bytes.Equal(m.Payload[headerLen:], r.pattern[headerLen:]):
		r.malformed.Add(1)
		return malformed
	}
	r.hist.record(i, m.At.Sub(r.base)-time.Duration(ts))
	if !r.gaps.see(&checks[pub], seq) {
		r.reordered.Add(1)
	}
	return delivery
}

// dueAt is when message g of a run at rate per second is due.
func dueAt(g uint64, rate float64) time.Duration {
	return time.Duration(float64(g) * float64(time.Second) / rate)
}

func (r *rawBcast) fill(res *BroadcastResult) {
	res.Published, res.Delivered = r.published.Load(), r.delivered.Load()
	if res.Expected > res.Delivered {
		res.Lost = res.Expected - res.Delivered
	}
	res.Reordered, res.Malformed = r.reordered.Load(), r.malformed.Load()
	res.SendErrors, res.Dropped = r.sendErrs.Load(), r.dropped.Load()
	res.Latency = r.hist.summary()
	res.Skipped = r.gaps.missing()
	if res.Delivered > 0 {
		res.WireBytesPerMsg = float64(r.wireIn.Load()) / float64(res.Delivered)
	}
}
