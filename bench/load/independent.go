package load

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalws/shoal/bench/load/rawws"
)

// The load clients a scenario can run on.
const (
	// ClientReactor is shoal's client role in the runner's process: a
	// connection costs no goroutine, and a shard thread finds many of
	// them ready per wake-up, so messages leave in bursts. Cheap enough
	// to hold 10,000 idle connections or churn hundreds a second, and
	// the only client of idle, churn and the compressed runs.
	ClientReactor = "reactor"
	// ClientIndependent is a goroutine per connection on plain
	// net.Conn (package rawws), in a process of its own: each
	// connection sends when its own last message is answered (echo) or
	// its own schedule says so (broadcast), as real clients do, so the
	// server's wake-ups find few sockets ready. The headline echo and
	// broadcast figures come from it.
	ClientIndependent = "independent"
)

// Independent is what the independent-clients scenarios need besides
// their load.
type Independent struct {
	// TLS, if set, makes the connections wss:// with this
	// configuration.
	TLS *tls.Config
	// ServerPID, if not 0, is the server's process: its CPU is read
	// from /proc at the measured phase's ends.
	ServerPID int
	// Drain bounds the wait for the last echoes or deliveries once the
	// load stops; 0 means the reactor client's bound.
	Drain time.Duration
}

func (in Independent) drain(def time.Duration) time.Duration {
	if in.Drain > 0 {
		return in.Drain
	}
	return def
}

// PhaseCPU is what the server and the load process spent over a
// scenario's measured phase (echo: the window, once every connection
// is sending; broadcast: publishing and the drain after it), read from
// /proc at its ends. Independent client only.
type PhaseCPU struct {
	Seconds   float64 `json:"seconds"`      // wall time of the phase
	Messages  uint64  `json:"messages"`     // round trips or deliveries in it
	ServerCPU float64 `json:"server_cpu_s"` // user + system; 0 when not read
	LoadCPU   float64 `json:"load_cpu_s"`   // this process, user + system
}

// ServerCores is the server's mean CPU use over the phase, in cores.
func (p *PhaseCPU) ServerCores() float64 { return p.ServerCPU / p.Seconds }

// LoadCores is the load process's mean CPU use over the phase: near the
// machine's cores less the server's, the client may have been the limit.
func (p *PhaseCPU) LoadCores() float64 { return p.LoadCPU / p.Seconds }

// cpuMark is a reading taken at one end of a phase.
type cpuMark struct {
	at           time.Time
	server, self float64
	err          error
}

// markCPU reads the server's CPU (if pid is not 0) and this process's.
func markCPU(pid int) cpuMark {
	m := cpuMark{at: time.Now()}
	if pid != 0 {
		_, m.server, _, m.err = ProcStats(pid)
	}
	_, self, _, err := ProcStats(os.Getpid())
	m.self = self
	m.err = errors.Join(m.err, err)
	return m
}

// phase is the CPU between two marks.
func phase(from, to cpuMark, msgs uint64) (*PhaseCPU, error) {
	if err := errors.Join(from.err, to.err); err != nil {
		return nil, err
	}
	return &PhaseCPU{Seconds: to.at.Sub(from.at).Seconds(), Messages: msgs,
		ServerCPU: to.server - from.server, LoadCPU: to.self - from.self}, nil
}

// dialParallel bounds the handshakes under way at once: the servers'
// accept backlogs hold it easily, and a goroutine per dial costs
// nothing here.
const dialParallel = 64

// dialRaw opens n connections, dialParallel at a time. conns[i] is nil
// where the dial failed; failures are counted and the first one kept.
func dialRaw(ctx context.Context, addr string, n int, cfg *tls.Config) (conns []*rawws.Conn, failed int, firstErr error) {
	conns = make([]*rawws.Conn, n)
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(dialParallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c, err := rawws.Dial(dctx, addr, cfg)
				cancel()
				if err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil && firstErr == nil {
		firstErr = ctx.Err()
	}
	return conns, failed, firstErr
}

// openOnly drops the failed dials.
func openOnly(conns []*rawws.Conn) []*rawws.Conn {
	var out []*rawws.Conn
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// closeRaw ends every connection: a close frame each, then the socket,
// which unblocks the goroutine reading it.
func closeRaw(conns []*rawws.Conn) {
	var wg sync.WaitGroup
	for part := range slices.Chunk(conns, max(1, len(conns)/dialParallel)) {
		wg.Go(func() {
			for _, c := range part {
				c.Close()
			}
		})
	}
	wg.Wait()
}

// filler is the fixed content after a payload's header: every echo and
// delivery is compared with it, byte for byte.
func filler(size int) []byte {
	b := make([]byte, size)
	for i := headerLen; i < size; i++ {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}
