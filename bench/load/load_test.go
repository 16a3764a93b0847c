package load

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/shoalws/shoal/bench/load/rawws"
)

func TestEcho(t *testing.T) {
	addr := serve(t, echoServer)
	res, err := Echo(context.Background(), addr, 50, 64, 4, time.Second, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	checkEcho(t, res)
	if res.Inflight != 4 || res.Conns != 50 || res.Sent < 50*4 {
		t.Errorf("counts: %+v", res)
	}
}

func TestEchoLarge(t *testing.T) {
	addr := serve(t, echoServer)
	res, err := Echo(context.Background(), addr, 10, 16<<10, 2, 500*time.Millisecond, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	checkEcho(t, res)
}

// checkEcho asserts what a correct echo server gives.
func checkEcho(t *testing.T, r EchoResult) {
	t.Helper()
	if r.DialErrors != 0 || r.Lost != 0 || r.Reordered != 0 || r.Malformed != 0 ||
		r.SendErrors != 0 || r.Dropped != 0 || !r.Drained {
		t.Errorf("errors: %+v", r)
	}
	if r.Received != r.Sent || r.Latency.Samples != r.Received || r.RoundTripsPerSec <= 0 {
		t.Errorf("counts: %+v", r)
	}
	checkLatency(t, r.Latency)
}

func checkLatency(t *testing.T, l Latency) {
	t.Helper()
	if l.P50us <= 0 || l.P99us < l.P50us || l.Maxus < l.P99us {
		t.Errorf("latency: %+v", l)
	}
}

// The checks must be able to fail: a server that drops or swaps
// messages is caught.
func TestEchoDetectsLoss(t *testing.T) {
	defer setDrain(&echoDrainTimeout, 300*time.Millisecond)()
	addr := serve(t, lossyEcho)
	res, err := Echo(context.Background(), addr, 10, 64, 4, 300*time.Millisecond, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost == 0 || res.Drained {
		t.Fatalf("loss not detected: %+v", res)
	}
}

func TestEchoDetectsReorder(t *testing.T) {
	addr := serve(t, swappingEcho)
	res, err := Echo(context.Background(), addr, 10, 64, 4, 300*time.Millisecond, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reordered != 10 || res.Lost != 0 {
		t.Fatalf("want 10 reordered, 0 lost: %+v", res)
	}
}

func TestBroadcast(t *testing.T) {
	addr := serve(t, broadcastServer)
	res, err := Broadcast(context.Background(), addr, 50, 5, 500, 64, time.Second, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.DialErrors != 0 || res.Lost != 0 || res.Reordered != 0 || res.Malformed != 0 ||
		res.SendErrors != 0 || res.Dropped != 0 || !res.Drained {
		t.Errorf("errors: %+v", res)
	}
	if res.Published < 400 || res.Expected != res.Published*50 || res.Delivered != res.Expected ||
		res.Latency.Samples != res.Delivered || res.DeliveriesPerSec <= 0 {
		t.Errorf("counts: %+v", res)
	}
	checkLatency(t, res.Latency)
}

func TestBroadcastDetectsLoss(t *testing.T) {
	defer setDrain(&broadcastDrainTimeout, 300*time.Millisecond)()
	addr := serve(t, lossyBroadcast)
	res, err := Broadcast(context.Background(), addr, 20, 2, 200, 64, 300*time.Millisecond, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost == 0 || res.Skipped == 0 || res.Skipped > res.Lost || res.Drained {
		t.Fatalf("loss not detected: %+v", res)
	}
}

func TestBroadcastDetectsReorder(t *testing.T) {
	// The server may still hold one message at the end: lost ≤ 1 each.
	defer setDrain(&broadcastDrainTimeout, 300*time.Millisecond)()
	addr := serve(t, swappingBroadcast)
	res, err := Broadcast(context.Background(), addr, 20, 1, 200, 64, 300*time.Millisecond, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reordered == 0 || res.Lost > 20 {
		t.Fatalf("reorder not detected: %+v", res)
	}
}

func TestChurn(t *testing.T) {
	addr := serve(t, echoServer)
	res, err := Churn(context.Background(), addr, 20, 100, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Errors != 0 || res.Dials < 50 || res.Closes != res.Dials {
		t.Errorf("%+v", res)
	}
	checkEcho(t, res.Steady)
}

func TestIdle(t *testing.T) {
	addr := serve(t, echoServer)
	called := false
	res, err := Idle(context.Background(), addr, 50, func() {
		called = true
		rss, cpu, threads, err := ProcStats(os.Getpid())
		if err != nil || rss <= 0 || cpu <= 0 || threads < 2 {
			t.Errorf("ProcStats: %d %v %d %v", rss, cpu, threads, err)
		}
	}, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !called || res.Open != 50 || res.DialErrors != 0 || res.Dropped != 0 || res.HandshakesPerSec <= 0 {
		t.Errorf("%+v (atPeak called: %v)", res, called)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.07 || d > 0.07 {
			t.Errorf("q%v = %v, want %v ± 7%%", c.q, got, c.want)
		}
	}
	if h.Max() != time.Millisecond || h.Count() != 1000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		i := bucketOf(v)
		if v < bucketLow(i) || v >= bucketLow(i+1) {
			t.Fatalf("%d in bucket %d [%d, %d)", v, i, bucketLow(i), bucketLow(i+1))
		}
	}
}

// setDrain shortens a drain timeout for a test and returns the undo.
func setDrain(p *time.Duration, d time.Duration) func() {
	old := *p
	*p = d
	return func() { *p = old }
}

// The receive path must not allocate per message: at millions of
// deliveries a second the generator's GC would show in the numbers.
func TestReceiveNoAlloc(t *testing.T) {
	cl := &client{base: time.Now()}
	run := &bcastRun{cl: cl, pubs: 2, size: 64, pl: payloads{size: 64}}
	sub := &bcastSub{run: run, checks: make([]seqCheck, 2)}
	erun := &echoRun{cl: cl, size: 64, pl: payloads{size: 64}} // not running: receive only, no send
	ec := &echoConn{run: erun, buf: make([]byte, 64)}
	msg := make([]byte, 64)
	var seq uint64
	allocs := testing.AllocsPerRun(1000, func() {
		putHeader(msg, 1<<32|seq, cl.now())
		sub.onMessage(nil, msg)
		putHeader(msg, seq, cl.now())
		ec.onMessage(nil, msg)
		seq++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message", allocs)
	}
	if run.reordered.Load() != 0 || erun.reordered.Load() != 0 || run.delivered.Load() < 1000 {
		t.Errorf("reordered %d/%d, delivered %d", run.reordered.Load(), erun.reordered.Load(), run.delivered.Load())
	}

	// The independent subscriber's check, on a message as rawws reads it.
	raw := &rawBcast{pubs: 2, size: 64, pattern: filler(64), base: time.Now()}
	checks := make([]seqCheck, 2)
	m := rawws.Message{Op: rawws.OpBinary, Payload: bytes.Clone(raw.pattern)}
	seq = 0
	allocs = testing.AllocsPerRun(1000, func() {
		putHeader(m.Payload, 1<<32|seq, int64(time.Since(raw.base)))
		m.At = time.Now()
		if raw.receive(3, checks, m) != delivery {
			t.Fatal("not a delivery")
		}
		seq++
	})
	if allocs != 0 {
		t.Errorf("independent: %v allocations per message", allocs)
	}
}

// The compression mode: chat JSON both ways, compressed, every echo and
// delivery checked as in the plain runs, and fewer bytes on the wire than
// in the payloads.
func TestCompressedScenarios(t *testing.T) {
	mode := Mode{Compress: true}
	addr := serve(t, echoServer)
	res, err := Echo(context.Background(), addr, 20, 64, 2, 500*time.Millisecond, mode)
	if err != nil {
		t.Fatal(err)
	}
	checkEcho(t, res)
	if res.PayloadBytes < 200 || res.WireBytesPerMsg <= 0 || res.WireBytesPerMsg > 0.8*res.PayloadBytes {
		t.Errorf("echo: %.0f payload bytes, %.0f on the wire", res.PayloadBytes, res.WireBytesPerMsg)
	}

	baddr := serve(t, broadcastServer)
	b, err := Broadcast(context.Background(), baddr, 20, 2, 200, 64, 300*time.Millisecond, mode)
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost != 0 || b.Reordered != 0 || b.Malformed != 0 || b.Delivered == 0 || b.WireBytesPerMsg > 0.8*b.PayloadBytes {
		t.Errorf("broadcast: %+v", b)
	}

	idle, err := Idle(context.Background(), addr, 20, nil, Mode{Compress: true, Takeover: true, Exchange: true})
	if err != nil || idle.Echoed != 20 {
		t.Errorf("idle with an exchange: %+v, %v", idle, err)
	}
}
