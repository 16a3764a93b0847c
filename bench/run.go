package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// row is one library's run of a spec.
type row struct {
	Lib    string    `json:"lib"`
	Result any       `json:"result,omitempty"` // a load.*Result
	Server server    `json:"server"`
	Load   *loadProc `json:"load,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// loadProc is what the load generator spent on a whole run: the
// independent clients' process, or for the reactor client this runner's
// own process (its sampler included).
type loadProc struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	MaxRSSMiB  float64 `json:"max_rss_mib,omitempty"` // independent: the process's peak
}

// server is what the server process spent on the run: its counters
// before it, their peaks during it (sampled every 250 ms, and for idle
// at the moment every connection is open and settled), and the figures
// derived from them.
type server struct {
	RSSBeforeMiB     float64 `json:"rss_before_mib"`
	RSSPeakMiB       float64 `json:"rss_peak_mib"`
	ThreadsPeak      int     `json:"threads_peak"`
	GoroutinesBefore int     `json:"goroutines_before"`
	GoroutinesPeak   int     `json:"goroutines_peak"`
	FDsBefore        int     `json:"fds_before"`
	FDsPeak          int     `json:"fds_peak"`
	// CPUSeconds is user + system over the whole run: connecting, the
	// load, draining and closing.
	CPUSeconds float64 `json:"cpu_seconds"`

	// idle: (RSS with every connection open − RSS before) / open.
	KiBPerConn float64 `json:"kib_per_conn,omitempty"`
	// echo: CPU per round trip (a message in and its echo out). In
	// seconds per million messages, the unit, it is the same
	// number: 1 µs per message is 1 s per million.
	CPUMicrosPerRoundTrip float64 `json:"cpu_us_per_round_trip,omitempty"`
	// echo: per million round trips; broadcast: per million deliveries.
	CPUSecondsPerMillion float64 `json:"cpu_s_per_million_msgs,omitempty"`
	// CPUBasis is what the two figures above divide: the CPU of the
	// whole run (reactor client), or of the measured phase (independent
	// clients: echo's window; broadcast's publishing and drain).
	CPUBasis string `json:"cpu_basis,omitempty"`

	// churn: the counters once the run is over.
	After *settled `json:"after,omitempty"`
}

// settled is a server's fds and goroutines after a churn run, once they
// came back to where they were before it or settleTimeout passed.
type settled struct {
	FDs        int     `json:"fds"`
	Goroutines int     `json:"goroutines"`
	Baseline   bool    `json:"baseline"` // both back to their values before
	WaitedS    float64 `json:"waited_s"`
}

// env is what runs need besides their spec: the peer binaries, and for
// wss:// runs the certificate.
type env struct {
	bins peerBinaries
	wss  *wss // nil: no spec asks for TLS
}

// runLib starts lib's peer, runs s against it and stops it.
func runLib(ctx context.Context, e env, lib string, s spec) row {
	r := row{Lib: lib}
	if s.Mode.Compress && lib == "gobwas" {
		r.Error = "gobwas/ws has no permessage-deflate here"
		return r
	}
	var w *wss
	if s.TLS {
		switch {
		case e.wss == nil:
			r.Error = "a wss:// run without a certificate"
			return r
		case s.Scenario == "churn":
			r.Error = "churn runs over ws:// only"
			return r
		}
		w = e.wss
		s.Mode.TLS = w.client
	}
	p, err := startPeer(e.bins.forLib(lib), lib, s.Scenario == "broadcast", s.Mode, w)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer p.stop()
	if s.Scenario == "idle" {
		if err := warmUp(ctx, p, load.Mode{TLS: s.Mode.TLS}); err != nil {
			r.Error = err.Error()
			return r
		}
	}
	// A run that sends a message before idling measures memory after
	// a garbage collection, before and at the peak alike: what the
	// connections hold, not what pools kept from the burst of messages.
	collect := s.Scenario == "idle" && s.Mode.Exchange
	if collect {
		if err := p.collect(); err != nil {
			r.Error = err.Error()
			return r
		}
	}
	before, err := p.sample()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	smp := startSampler(p)
	var atPeak procSample
	res, lp, runErr := runScenario(ctx, e, p, s, func() {
		if collect {
			if err := p.collect(); err != nil {
				smp.add(procSample{}, err)
				return
			}
		}
		var err error
		atPeak, err = p.sample()
		smp.add(atPeak, err)
	})
	peak, sampleErr := smp.finish()
	after, afterErr := p.sample()
	r.Result, r.Load = res, lp
	r.Server = serverStats(before, peak, after)
	derive(&r.Server, res, before, atPeak)
	if s.Scenario == "churn" && afterErr == nil {
		r.Server.After = waitSettled(p, before, after)
	}
	if err := errors.Join(runErr, sampleErr, afterErr); err != nil {
		r.Error = err.Error()
	}
	return r
}

// warmUpConns connections are opened and closed before idle's "before"
// reading, for every library alike: the first connections fault in the
// server's accept and handshake code and its runtime's first heap
// spans, a one-time cost that divided by N would read as per-conn
// memory (about 0.04 KiB at 10,000 for shoal).
const warmUpConns = 100

// warmUp opens and closes the warm-up connections, then waits (as
// churn does) until the server has let go of their fds and goroutines.
func warmUp(ctx context.Context, p *peer, mode load.Mode) error {
	start, err := p.sample()
	if err != nil {
		return err
	}
	if _, err := load.Idle(ctx, p.addr, warmUpConns, nil, mode); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	now, err := p.sample()
	if err != nil {
		return err
	}
	waitSettled(p, start, now)
	return nil
}

// runScenario runs s against p with s's client, and reports what the
// load generator spent; atPeak is called, for idle, while every
// connection is open.
func runScenario(ctx context.Context, e env, p *peer, s spec, atPeak func()) (any, *loadProc, error) {
	if s.independent() {
		return runIndependent(ctx, e, p, s)
	}
	_, cpu0, _, err0 := load.ProcStats(os.Getpid())
	res, err := runReactor(ctx, p.addr, s, atPeak)
	_, cpu1, _, err1 := load.ProcStats(os.Getpid())
	var lp *loadProc
	if err0 == nil && err1 == nil {
		lp = &loadProc{CPUSeconds: cpu1 - cpu0}
	}
	return res, lp, err
}

// runReactor runs s on the reactor client, in this process.
func runReactor(ctx context.Context, addr string, s spec, atPeak func()) (any, error) {
	switch s.Scenario {
	case "idle":
		return load.Idle(ctx, addr, s.Conns, atPeak, s.Mode)
	case "echo":
		return load.Echo(ctx, addr, s.Conns, s.Size, s.Inflight, s.Duration, s.Mode)
	case "broadcast":
		return load.Broadcast(ctx, addr, s.Subs, s.Pubs, s.Rate, s.Size, s.Duration, s.Mode)
	case "churn":
		return load.Churn(ctx, addr, s.Conns, s.Rate, s.Duration)
	}
	return nil, fmt.Errorf("unknown scenario %q", s.Scenario)
}

const mib = 1 << 20

func serverStats(before, peak, after procSample) server {
	return server{
		RSSBeforeMiB:     float64(before.RSS) / mib,
		RSSPeakMiB:       float64(peak.RSS) / mib,
		ThreadsPeak:      peak.Threads,
		GoroutinesBefore: before.Goroutines,
		GoroutinesPeak:   peak.Goroutines,
		FDsBefore:        before.FDs,
		FDsPeak:          peak.FDs,
		CPUSeconds:       after.CPU - before.CPU,
	}
}

// derive fills the per-connection and per-message figures: per
// message over the measured phase where the load process read it
// (independent clients), over the whole run otherwise.
func derive(sv *server, res any, before, atPeak procSample) {
	perMillion := func(cpu float64, msgs uint64, ph *load.PhaseCPU, phase string) {
		sv.CPUBasis = "whole run"
		if ph != nil && ph.ServerCPU > 0 {
			cpu, msgs, sv.CPUBasis = ph.ServerCPU, ph.Messages, phase
		}
		if msgs > 0 {
			sv.CPUSecondsPerMillion = cpu / float64(msgs) * 1e6
		}
	}
	switch r := res.(type) {
	case load.IdleResult:
		if r.Open > 0 && atPeak.RSS > 0 {
			sv.KiBPerConn = float64(atPeak.RSS-before.RSS) / 1024 / float64(r.Open)
		}
	case load.EchoResult:
		perMillion(sv.CPUSeconds, r.Received, r.Phase, "window")
		sv.CPUMicrosPerRoundTrip = sv.CPUSecondsPerMillion
	case load.BroadcastResult:
		perMillion(sv.CPUSeconds, r.Delivered, r.Phase, "publishing and drain")
	}
}

// settleTimeout bounds the wait for a server to give back what a churn
// run took: its connections are closed by then, only their teardown
// may lag.
const settleTimeout = 5 * time.Second

// waitSettled polls p until its fds and goroutines are back to before's
// or settleTimeout passes, and reports where they stopped.
func waitSettled(p *peer, before, now procSample) *settled {
	start := time.Now()
	for {
		back := now.FDs <= before.FDs && now.Goroutines <= before.Goroutines
		if back || time.Since(start) >= settleTimeout {
			return &settled{FDs: now.FDs, Goroutines: now.Goroutines, Baseline: back, WaitedS: time.Since(start).Seconds()}
		}
		time.Sleep(100 * time.Millisecond)
		if ps, err := p.sample(); err == nil {
			now = ps
		}
	}
}
