package shoal_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// TestFullMailboxPausesReading: a blocked handler fills its mailbox, the
// shard stops reading that connection, and when the handler is released
// every message arrives, once, in order.
func TestFullMailboxPausesReading(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	const total = 2000
	srv, addr := start(t, shoal.Config{MailboxSize: 8, Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			<-release
			mu.Lock()
			got = append(got, string(m.Data))
			if len(got) == total {
				close(done)
			}
			mu.Unlock()
		},
	}})
	c := dial(t, addr)
	go func() {
		for i := 0; i < total; i++ {
			if err := c.WriteFrame(codec.OpText, true, []byte(fmt.Sprint(i))); err != nil {
				return
			}
		}
	}()
	waitFor(t, func() bool { return srv.Stats().PausedReads > 0 })
	close(release)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d messages arrived", len(got), total)
	}
	for i, s := range got {
		if s != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, s)
		}
	}
}

// TestSaturatedPoolNeverStallsShard: with every worker blocked, other
// connections still get their pings answered by the shard itself, and
// the blocked ones are served when workers free up.
func TestSaturatedPoolNeverStallsShard(t *testing.T) {
	release := make(chan struct{})
	var delivered atomic.Int64
	srv, addr := start(t, shoal.Config{Shards: 1, Workers: 2, Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) { <-release; delivered.Add(1) },
	}})
	var blocked []*wstest.Client
	for i := 0; i < 4; i++ {
		c := dial(t, addr)
		c.WriteFrame(codec.OpText, true, []byte("block"))
		blocked = append(blocked, c)
	}
	waitFor(t, func() bool { return srv.Stats().PoolOverloads > 0 })
	probe := dial(t, addr)
	for i := 0; i < 10; i++ {
		probe.WriteFrame(codec.OpPing, true, []byte(fmt.Sprint(i)))
		f, err := probe.ReadFrame()
		if err != nil || f.Op != codec.OpPong || string(f.Payload) != fmt.Sprint(i) {
			t.Fatalf("ping %d while the pool is saturated: %+v %v", i, f.Header, err)
		}
	}
	// While boxes wait for a worker the shard retries them every
	// millisecond; it must not spin (a spinning loop makes ~10^5 passes
	// in this time).
	passes := srv.Stats().LoopPasses
	time.Sleep(200 * time.Millisecond)
	if n := srv.Stats().LoopPasses - passes; n > 2000 {
		t.Fatalf("%d loop passes in 200ms with the pool saturated: the shard spins", n)
	}
	close(release)
	waitFor(t, func() bool { return delivered.Load() == 4 })
	_ = blocked
}

// TestSlowReaderHitsOutboundLimit: a client that never reads fills its
// queue to the limit; Send then fails for it alone.
func TestSlowReaderHitsOutboundLimit(t *testing.T) {
	opened := make(chan *shoal.Conn, 2)
	srv, addr := start(t, shoal.Config{MaxOutbound: 256 << 10, Handler: shoal.HandlerFuncs{
		Open:    func(c *shoal.Conn) { opened <- c },
		Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
	}})
	slow := dial(t, addr)
	slowConn := <-opened
	fast := dial(t, addr)
	<-opened
	payload := make([]byte, 16<<10)
	var err error
	sent := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); sent++ {
		if err = slowConn.Send(shoal.Binary, payload); err != nil {
			break
		}
	}
	if !errors.Is(err, shoal.ErrOutboundFull) {
		t.Fatalf("after %d sends: %v, want ErrOutboundFull", sent, err)
	}
	st := srv.Stats()
	// The limit is checked before a message is added: at most one frame
	// beyond it, counted at its real cost (a 16 KiB frame sits in a
	// 32 KiB buffer, plus its node and header).
	if st.SendRefused == 0 || st.QueuedBytes > 256<<10+32<<10+64 {
		t.Fatalf("stats %+v", st)
	}
	roundTrip(t, fast, codec.OpBinary, []byte("the fast one is unaffected"))
	_ = slow
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
