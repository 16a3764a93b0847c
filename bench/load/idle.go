package load

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal"
)

// IdleResult is what Idle measured on the client side; the server's
// memory and threads are read by the caller (ProcStats) in atPeak.
type IdleResult struct {
	Conns            int     `json:"conns"`
	Open             int     `json:"open"`
	DialErrors       int     `json:"dial_errors"`
	DialError        string  `json:"dial_error,omitempty"`
	HandshakeSeconds float64 `json:"handshake_seconds"`
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	Dropped          uint64  `json:"dropped"` // closed by the server while idle
}

// idleSettle is how long the connections sit idle before atPeak, so the
// server's memory reflects settled connections, not handshake buffers.
const idleSettle = 2 * time.Second

// Idle opens n connections to addr (64 handshakes at a time), measures
// the handshake rate, lets them sit for about 2 s and calls atPeak, if
// not nil, while they are all still open; then it closes them. This
// process holds n sockets: keep n well under its open-file limit.
func Idle(ctx context.Context, addr string, n int, atPeak func()) (IdleResult, error) {
	res := IdleResult{Conns: n}
	cl, err := newClient(addr)
	if err != nil {
		return res, err
	}
	var dropped atomic.Uint64
	ending := &atomic.Bool{}
	values := make([]receiver, n)
	for i := range values {
		values[i] = idleConn{dropped: &dropped, ending: ending}
	}
	start := time.Now()
	conns, failed, derr := cl.dialAll(ctx, values, 64)
	took := time.Since(start)
	// Count what opened: after a cancel, dials never tried are neither
	// open nor failed.
	for _, c := range conns {
		if c != nil {
			res.Open++
		}
	}
	res.DialErrors, res.DialError = failed, errString(derr)
	res.HandshakeSeconds = took.Seconds()
	res.HandshakesPerSec = float64(res.Open) / took.Seconds()
	sleepCtx(ctx, idleSettle)
	if atPeak != nil {
		atPeak()
	}
	res.Dropped = dropped.Load()
	ending.Store(true)
	cl.close()
	if res.Open == 0 {
		return res, errors.Join(errors.New("load: no connection opened"), derr)
	}
	return res, nil
}

// idleConn counts connections the server closes while they idle.
type idleConn struct {
	dropped *atomic.Uint64
	ending  *atomic.Bool
}

func (c idleConn) onMessage(*shoal.Conn, []byte) {}

func (c idleConn) onClose(error) {
	if !c.ending.Load() {
		c.dropped.Add(1)
	}
}
