package shoal_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// Attacks from issue 10, each against an echo server in its own process
// (inline handlers, examples/echo's behaviour): the server's resident
// memory must stay within its stated bounds, and a well-behaved client
// must keep being served meanwhile.

// memoryBound is what one abusive connection may add to the server's
// resident memory: its outbound limit (1 MiB), its pongs, its partial
// input and the runtime's slack.
const memoryBound = 16 << 20

// checkGrowth fails the test if the server grew by more than bound. The
// race detector's shadow memory multiplies every allocation, so under it
// the attack runs and is checked for behaviour, not memory.
func checkGrowth(t *testing.T, what string, growth, bound int64) {
	t.Helper()
	if growth > bound && !raceEnabled {
		t.Fatalf("%s grew the server by %.1f MiB, bound %.1f MiB", what, mib(growth), mib(bound))
	}
}

// watch samples the server's RSS and runs round trips on a separate,
// well-behaved connection until stop is called, which reports the peak
// RSS and the slowest round trip. A failed round trip fails the test.
func watch(t *testing.T, s *serverProc) (stop func() (peak int64, slowest time.Duration)) {
	t.Helper()
	good := dial(t, s.addr)
	good.Timeout = 10 * time.Second
	var peak atomic.Int64
	var slowest atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			if r := s.rss(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	errc := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			start := time.Now()
			msg := []byte(fmt.Sprint("still here ", i))
			if err := good.WriteFrame(codec.OpText, true, msg); err != nil {
				errc <- err
				return
			}
			if _, got, err := good.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
				errc <- fmt.Errorf("round trip %d: %q, %v", i, got, err)
				return
			}
			if d := time.Since(start); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() (int64, time.Duration) {
		close(done)
		wg.Wait()
		select {
		case err := <-errc:
			t.Fatalf("the well-behaved connection was not served during the attack: %v", err)
		default:
		}
		return peak.Load(), time.Duration(slowest.Load())
	}
}

// settle waits until the server's RSS is back within twice its baseline,
// for at most 10 s, and returns it.
func settle(t *testing.T, s *serverProc, base int64) int64 {
	t.Helper()
	if raceEnabled {
		return s.rss()
	}
	var r int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r = s.rss(); r <= 2*base {
			return r
		}
	}
	t.Fatalf("RSS %d MiB 10 s after the attack, baseline %d MiB", r>>20, base>>20)
	return r
}

// baseline warms the server up (a few connections opened, used and
// closed) and returns its RSS.
func baseline(t *testing.T, s *serverProc) int64 {
	t.Helper()
	for i := 0; i < 20; i++ {
		c := dial(t, s.addr)
		roundTrip(t, c, codec.OpText, []byte("warm-up"))
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	return s.rss()
}

// flood writes repeat copies of frames (masked client frames) and never
// reads. It stops early when the server stops reading for 2 s (a full
// TCP window) or closes, and returns how many copies went out.
func flood(t *testing.T, addr string, frames []byte, repeat int) (sent int, c *wstest.Client) {
	t.Helper()
	c = dial(t, addr)
	// Batch the frames into ~64 KiB writes.
	per := max(1, (64<<10)/len(frames))
	batch := bytes.Repeat(frames, per)
	for sent < repeat {
		c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n := min(per, repeat-sent)
		if _, err := c.Conn.Write(batch[:n*len(frames)]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return sent, c // paused: the server stopped reading us
			}
			return sent, c
		}
		sent += n
	}
	return sent, c
}

// floodCount scales an attack down under the race detector, which slows
// the server tenfold; the bound it checks does not depend on the count.
func floodCount(n int) int {
	if raceEnabled {
		return n / 10
	}
	return n
}

// TestPingFloodMemoryBounded: one connection sends 10,000,000 empty pings
// and never reads. Its pongs are bounded (conn.MaxWaitingPongs), so the
// server's memory stays put; the connection stays open.
func TestPingFloodMemoryBounded(t *testing.T) {
	s := startServerProcess(t, "maxmsg=1048576")
	base := baseline(t, s)
	stop := watch(t, s)
	ping := wstest.Build(codec.OpPing, true, nil)
	n := floodCount(10_000_000)
	sent, attacker := flood(t, s.addr, ping, n)
	time.Sleep(300 * time.Millisecond) // let the server read what it will
	peak, slowest := stop()
	t.Logf("%d of %d pings sent; RSS baseline %.1f MiB, peak %.1f MiB (+%.1f); slowest round trip meanwhile %v",
		sent, n, mib(base), mib(peak), mib(peak-base), slowest)
	checkGrowth(t, "a ping flood", peak-base, memoryBound)
	attacker.Close()
	t.Logf("RSS after the attacker left: %.1f MiB", mib(settle(t, s, base)))
}

// TestMessageFloodMemoryBounded: one connection sends 12,000,000 empty
// messages to the echo and never reads its answers. Once its outbound
// queue holds its limit the server stops reading it: memory stays
// within the limit, and the flood stalls in TCP instead.
func TestMessageFloodMemoryBounded(t *testing.T) {
	s := startServerProcess(t, "maxmsg=1048576", "writetimeout=-1s")
	base := baseline(t, s)
	stop := watch(t, s)
	msg := wstest.Build(codec.OpBinary, true, nil)
	n := floodCount(12_000_000)
	sent, attacker := flood(t, s.addr, msg, n)
	peak, slowest := stop()
	st := s.stats()
	t.Logf("%d of %d messages sent before the server stopped reading; RSS baseline %.1f MiB, peak %.1f MiB (+%.1f); slowest round trip %v; stats: %d outbound pauses, %.1f MiB queued",
		sent, n, mib(base), mib(peak), mib(peak-base), slowest, st.OutboundPauses, mib(st.QueuedBytes))
	checkGrowth(t, "a message flood", peak-base, memoryBound)
	if sent < n && st.OutboundPauses == 0 {
		t.Fatal("the flood stalled but the server never paused reading it")
	}
	attacker.Close()
	t.Logf("RSS after the attacker left: %.1f MiB", mib(settle(t, s, base)))
}

// TestPartialMessagesBounded: twenty connections each announce a 15 MiB
// message, send 8 MiB of it and stop. The server-wide budget for
// unfinished messages (32 MiB here) holds: connections past it are closed
// with 1013, and the rest with 1008 when their message deadline passes.
func TestPartialMessagesBounded(t *testing.T) {
	const budget = 32 << 20
	s := startServerProcess(t, "maxmsg=16777216", fmt.Sprint("maxpartial=", budget), "msgtimeout=3s")
	base := baseline(t, s)
	stop := watch(t, s)
	const conns, announced, sent = 20, 15 << 20, 8 << 20
	codes := make(chan codec.StatusCode, conns)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c := dial(t, s.addr)
		c.Timeout = 30 * time.Second
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := wstest.Build(codec.OpBinary, true, make([]byte, announced))[:14+sent]
			c.WriteRaw(head) // the server may close us part way
			code, _ := c.ExpectClose()
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	peak, slowest := stop()
	got := map[codec.StatusCode]int{}
	for code := range codes {
		got[code]++
	}
	t.Logf("close codes %v; RSS baseline %.1f MiB, peak %.1f MiB (+%.1f); slowest round trip %v",
		got, mib(base), mib(peak), mib(peak-base), slowest)
	if got[codec.StatusTryAgain] == 0 || got[codec.StatusPolicy] == 0 || got[codec.StatusTryAgain]+got[codec.StatusPolicy] != conns {
		t.Fatalf("close codes %v: want some 1013 (over the budget) and the rest 1008 (deadline)", got)
	}
	checkGrowth(t, "unfinished messages", peak-base, budget+memoryBound)
	if st := s.stats(); st.PartialBytes != 0 || st.MessageTimeouts == 0 {
		t.Fatalf("after the attack: %d bytes still held in unfinished messages, %d message timeouts", st.PartialBytes, st.MessageTimeouts)
	}
	t.Logf("RSS after the attackers left: %.1f MiB", mib(settle(t, s, base)))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
