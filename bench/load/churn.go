package load

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal"
)

// ChurnResult is what Churn measured. Errors sums every kind of failure
// and must be 0 against a correct server.
type ChurnResult struct {
	Steady      EchoResult `json:"steady"` // the echo traffic alongside
	Rate        float64    `json:"rate"`   // connects/s asked for
	Dials       uint64     `json:"dials"`
	DialErrors  uint64     `json:"dial_errors"`
	DialError   string     `json:"dial_error,omitempty"`
	Closes      uint64     `json:"closes"`       // clean close handshakes
	CloseErrors uint64     `json:"close_errors"` // any other end
	Unclosed    uint64     `json:"unclosed"`     // still open at the end
	Behind      uint64     `json:"behind"`       // connects skipped: dialers all busy
	Errors      uint64     `json:"errors"`
}

// churnDialers bounds the connects under way at once.
const churnDialers = 16

// Churn runs echo traffic (64 B, one in flight) on steady connections
// while other connections connect, shake hands and close at rate per
// second, for duration.
func Churn(ctx context.Context, addr string, steady int, rate float64, duration time.Duration) (ChurnResult, error) {
	res := ChurnResult{Rate: rate, Steady: EchoResult{Conns: steady, Size: 64, Inflight: 1}}
	cl, err := newClient(addr, Mode{})
	if err != nil {
		return res, err
	}
	defer cl.close()
	run := &echoRun{cl: cl, size: 64, pl: payloads{size: 64}}
	open, failed, derr := run.dial(ctx, steady)
	res.Steady.DialErrors, res.Steady.DialError = failed, errString(derr)
	if len(open) == 0 && steady > 0 {
		return res, errors.Join(errors.New("load: no steady connection opened"), derr)
	}
	ch := &churner{cl: cl}
	start := time.Now()
	run.start(open, 1)
	ch.run(ctx, rate, duration)
	window, inWindow := run.stop(open, start)
	res.Steady.Seconds = window.Seconds()
	res.Steady.RoundTripsPerSec = float64(inWindow) / window.Seconds()
	res.Steady.Drained = run.drain(echoDrainTimeout)
	run.fill(&res.Steady)
	ch.fill(&res)
	s := res.Steady
	res.Errors = res.DialErrors + res.CloseErrors + res.Unclosed +
		s.Lost + s.Reordered + s.Malformed + s.SendErrors + s.Dropped + uint64(s.DialErrors)
	return res, nil
}

// churner connects and closes connections at a steady pace.
type churner struct {
	cl                *client
	dials, dialErrs   atomic.Uint64
	closes, closeErrs atomic.Uint64
	behind            atomic.Uint64
	mu                sync.Mutex
	firstErr          error
}

// run paces connects at rate per second for duration over a few dialer
// goroutines (Dial blocks for a round trip), then waits up to 5 s for
// the last ones to close.
func (ch *churner) run(ctx context.Context, rate float64, duration time.Duration) {
	tokens := make(chan struct{}, churnDialers)
	var wg sync.WaitGroup
	for range churnDialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				ch.once(ctx)
			}
		}()
	}
	tick := time.NewTicker(time.Millisecond)
	start := time.Now()
	var issued uint64
	for elapsed := time.Duration(0); elapsed < duration && ctx.Err() == nil; elapsed = time.Since(start) {
		for due := uint64(elapsed.Seconds() * rate); issued < due; issued++ {
			select {
			case tokens <- struct{}{}:
			default:
				ch.behind.Add(1)
			}
		}
		<-tick.C
	}
	tick.Stop()
	close(tokens)
	wg.Wait()
	waitUntil(5*time.Second, func() bool {
		return ch.closes.Load()+ch.closeErrs.Load() >= ch.dials.Load()-ch.dialErrs.Load()
	})
}

// once connects, and closes at once with 1000.
func (ch *churner) once(ctx context.Context) {
	ch.dials.Add(1)
	c, err := ch.cl.dial(ctx, churnConn{ch})
	if err != nil {
		ch.dialErrs.Add(1)
		ch.noteErr(err)
		return
	}
	c.Close(shoal.StatusNormalClosure, "churn")
}

func (ch *churner) noteErr(err error) {
	ch.mu.Lock()
	if ch.firstErr == nil {
		ch.firstErr = err
	}
	ch.mu.Unlock()
}

func (ch *churner) fill(res *ChurnResult) {
	res.Dials, res.DialErrors = ch.dials.Load(), ch.dialErrs.Load()
	res.Closes, res.CloseErrors = ch.closes.Load(), ch.closeErrs.Load()
	if ok := res.Dials - res.DialErrors; ok > res.Closes+res.CloseErrors {
		res.Unclosed = ok - res.Closes - res.CloseErrors
	}
	res.Behind = ch.behind.Load()
	ch.mu.Lock()
	res.DialError = errString(ch.firstErr)
	ch.mu.Unlock()
}

// churnConn is a churned connection: it only reports how it ended.
type churnConn struct{ ch *churner }

func (c churnConn) onMessage(*shoal.Conn, []byte) {}

func (c churnConn) onClose(err error) {
	if isNormalClose(err) {
		c.ch.closes.Add(1)
		return
	}
	c.ch.closeErrs.Add(1)
	c.ch.noteErr(err)
}
