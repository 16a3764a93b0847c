package load

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal"
)

// independentIn is the test runs' setting: the server is this process,
// so its CPU over the phase is ours; a short drain for the lossy ones.
func independentIn(drain time.Duration) Independent {
	return Independent{ServerPID: os.Getpid(), Drain: drain}
}

func TestEchoIndependent(t *testing.T) {
	addr := serve(t, echoServer)
	for _, c := range []struct{ conns, size, inflight int }{{50, 64, 1}, {20, 64, 4}, {10, 16 << 10, 2}, {4, 100 << 10, 1}} {
		res, err := EchoIndependent(context.Background(), addr, c.conns, c.size, c.inflight, 0, 500*time.Millisecond, independentIn(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v %+v", res, *res.Phase)
		checkEcho(t, res)
		if res.Client != ClientIndependent || res.Conns != c.conns || res.Inflight != c.inflight ||
			res.Sent < uint64(c.conns*c.inflight) {
			t.Errorf("counts: %+v", res)
		}
		// The header of a frame of this size, and nothing else, on top.
		hdr := 2.0
		if c.size > 125 {
			hdr = 4
		}
		if c.size > 0xFFFF {
			hdr = 10
		}
		if res.WireBytesPerMsg < float64(c.size)+hdr || res.WireBytesPerMsg > float64(c.size)+hdr+1 {
			t.Errorf("%.1f wire bytes per %d-byte echo", res.WireBytesPerMsg, c.size)
		}
		p := res.Phase
		if p == nil || p.Seconds < 0.4 || p.Messages == 0 || p.Messages > res.Received || p.LoadCPU <= 0 || p.ServerCPU <= 0 {
			t.Errorf("phase: %+v", p)
		}
	}
}

// The checks must be able to fail, as the reactor client's: a server
// that drops, swaps or alters an echo is caught.
func TestEchoIndependentDetects(t *testing.T) {
	for _, c := range []struct {
		name   string
		server func(**shoal.Server) shoal.Handler
		check  func(EchoResult) bool
	}{
		{"loss", lossyEcho, func(r EchoResult) bool { return r.Lost > 0 && !r.Drained }},
		{"reorder", swappingEcho, func(r EchoResult) bool { return r.Reordered == 10 && r.Lost == 0 && r.Drained }},
		{"corruption", corruptingEcho, func(r EchoResult) bool { return r.Malformed > 0 && r.Lost > 0 }},
		{"a close", closingEcho, func(r EchoResult) bool { return r.Dropped == 10 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := serve(t, c.server)
			res, err := EchoIndependent(context.Background(), addr, 10, 64, 4, 0, 300*time.Millisecond, independentIn(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(res) {
				t.Fatalf("not detected: %+v", res)
			}
		})
	}
}

// A paced echo asks its rate of the server as an even stream: the
// messages' due times, over all connections, are 1/rate apart, and the
// round trips keep up with the rate asked.
func TestEchoIndependentPaced(t *testing.T) {
	var mu sync.Mutex
	var due []int64
	addr := serve(t, func(**shoal.Server) shoal.Handler {
		return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
			if _, ts, ok := getHeader(m.Data); ok {
				mu.Lock()
				due = append(due, ts)
				mu.Unlock()
			}
			c.Send(m.Type, m.Data)
		}}
	})
	const conns, rate = 20, 1000
	res, err := EchoIndependent(context.Background(), addr, conns, 64, 1, rate, 500*time.Millisecond, independentIn(0))
	if err != nil {
		t.Fatal(err)
	}
	checkEcho(t, res)
	if res.Rate != rate || res.RoundTripsPerSec < 0.9*rate || res.RoundTripsPerSec > 1.1*rate {
		t.Errorf("%.0f round trips/s, %v asked", res.RoundTripsPerSec, res.Rate)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(due)
	for i := 1; i < len(due); i++ {
		if d := time.Duration(due[i] - due[i-1]); d < time.Second/rate-time.Microsecond || d > time.Second/rate+time.Microsecond {
			t.Fatalf("messages %d and %d due %v apart, want %v", i-1, i, d, time.Second/rate)
		}
	}
	if _, err := EchoIndependent(context.Background(), addr, 2, 64, 2, rate, time.Millisecond, independentIn(0)); err == nil {
		t.Error("a paced echo with two in flight")
	}
}

func TestBroadcastIndependent(t *testing.T) {
	addr := serve(t, broadcastServer)
	res, err := BroadcastIndependent(context.Background(), addr, 50, 5, 500, 64, time.Second, independentIn(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", res, *res.Phase)
	if res.DialErrors != 0 || res.Lost != 0 || res.Skipped != 0 || res.Reordered != 0 || res.Malformed != 0 ||
		res.SendErrors != 0 || res.Dropped != 0 || !res.Drained || res.Behind() != 0 {
		t.Errorf("errors: %+v", res)
	}
	// 500 due in the second, 100 from each publisher.
	if res.Published != 500 || res.Expected != res.Published*50 || res.Delivered != res.Expected ||
		res.Latency.Samples != res.Delivered || res.DeliveriesPerSec <= 0 || res.Client != ClientIndependent {
		t.Errorf("counts: %+v", res)
	}
	checkLatency(t, res.Latency)
	if p := res.Phase; p == nil || p.Messages != res.Delivered || p.Seconds < res.Seconds || p.LoadCPU <= 0 || p.ServerCPU <= 0 {
		t.Errorf("phase: %+v", p)
	}
}

func TestBroadcastIndependentDetects(t *testing.T) {
	for _, c := range []struct {
		name   string
		server func(**shoal.Server) shoal.Handler
		pubs   int
		check  func(BroadcastResult) bool
	}{
		// Every 10th message skipped: lost, and seen to be where a
		// later one came (the last message dropped has none after it).
		{"loss", lossyBroadcast, 2, func(r BroadcastResult) bool {
			return r.Lost > 0 && r.Skipped > 0 && r.Skipped+r.Behind() == r.Lost && !r.Drained
		}},
		{"reorder", swappingBroadcast, 1, func(r BroadcastResult) bool { return r.Reordered > 0 && r.Lost <= 20 }},
		{"corruption", corruptingBroadcast, 2, func(r BroadcastResult) bool { return r.Malformed > 0 }},
		// A server that stops broadcasting loses what it holds, but no
		// message was overtaken: that is behind, not skipped.
		{"a stall", stallingBroadcast, 2, func(r BroadcastResult) bool {
			return r.Lost > 0 && r.Skipped == 0 && r.Behind() == r.Lost && !r.Drained
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := serve(t, c.server)
			res, err := BroadcastIndependent(context.Background(), addr, 20, c.pubs, 200, 64, 300*time.Millisecond, independentIn(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(res) {
				t.Fatalf("not detected: %+v", res)
			}
		})
	}
}

// The publishers take turns on one schedule: message g of the run is
// due at g/rate, and carries that time whatever the publisher's delays.
func TestBroadcastIndependentSchedule(t *testing.T) {
	var mu sync.Mutex
	due := map[uint64]int64{} // publisher<<32|seq → timestamp
	addr := serve(t, func(srv **shoal.Server) shoal.Handler {
		return shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
			if id, ts, ok := getHeader(m.Data); ok && id>>32 != probeID {
				mu.Lock()
				due[id] = ts
				mu.Unlock()
			}
			(*srv).Broadcast(m.Type, m.Data)
		}}
	})
	const pubs, rate = 3, 300
	res, err := BroadcastIndependent(context.Background(), addr, 6, pubs, rate, 64, 200*time.Millisecond, independentIn(0))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Published != 60 || len(due) != 60 || !res.Drained || res.Lost != 0 {
		t.Fatalf("%d timestamps: %+v", len(due), res)
	}
	first := due[0]
	for g := range uint64(60) {
		id := g%pubs<<32 | g/pubs
		want := time.Duration(g) * time.Second / rate
		if got := time.Duration(due[id] - first); got < want-1 || got > want+1 {
			t.Errorf("message %d (publisher %d, seq %d) due at %v, want %v", g, g%pubs, g/pubs, got, want)
		}
	}
}
