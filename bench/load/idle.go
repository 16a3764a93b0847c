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
	Mode             Mode    `json:"mode"`
	Echoed           uint64  `json:"echoed,omitempty"` // with Exchange: echoes back before idling
}

// exchange sends one message on every open connection and waits, 10 s
// at most, for the echoes; it returns how many came back.
func exchange(conns []*shoal.Conn, mode Mode, echoed *atomic.Uint64) uint64 {
	pl := newPayloads(512, mode)
	var buf []byte
	sent := uint64(0)
	for i, c := range conns {
		if c == nil {
			continue
		}
		buf = pl.message(buf, uint64(i))
		if c.Send(shoal.Binary, buf) == nil {
			sent++
		}
	}
	waitUntil(10*time.Second, func() bool { return echoed.Load() >= sent })
	return echoed.Load()
}

// idleSettle is how long the connections sit idle before atPeak, so the
// server's memory reflects settled connections, not handshake buffers.
const idleSettle = 2 * time.Second

// Idle opens n connections to addr (64 handshakes at a time), measures
// the handshake rate, lets them sit for about 2 s and calls atPeak, if
// not nil, while they are all still open; then it closes them. This
// process holds n sockets: keep n well under its open-file limit.
//
// With mode.Exchange, each connection first sends one message (chat
// JSON with mode.Compress) and waits for the echo: the server must echo.
func Idle(ctx context.Context, addr string, n int, atPeak func(), mode Mode) (IdleResult, error) {
	res := IdleResult{Conns: n, Mode: mode}
	cl, err := newClient(addr, mode)
	if err != nil {
		return res, err
	}
	var dropped, echoed atomic.Uint64
	ending := &atomic.Bool{}
	values := make([]receiver, n)
	for i := range values {
		values[i] = idleConn{dropped: &dropped, echoed: &echoed, ending: ending}
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
	if mode.Exchange {
		res.Echoed = exchange(conns, mode, &echoed)
	}
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
	dropped, echoed *atomic.Uint64
	ending          *atomic.Bool
}

func (c idleConn) onMessage(*shoal.Conn, []byte) { c.echoed.Add(1) }

func (c idleConn) onClose(error) {
	if !c.ending.Load() {
		c.dropped.Add(1)
	}
}
