package main

import (
	"context"
	"testing"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// runLib end to end against real peer processes, at a tiny scale: the
// server's figures are read and derived for each kind of run.
func TestRunLib(t *testing.T) {
	bins := buildTestPeers(t)
	// Long enough for the sampler (every 250 ms) to see the load.
	const window = 600 * time.Millisecond
	for _, c := range []struct {
		spec  spec
		check func(row) bool
	}{
		{spec{Scenario: "idle", Conns: 20}, func(r row) bool {
			res := r.Result.(load.IdleResult)
			// gorilla holds a goroutine and buffers per connection.
			return res.Open == 20 && r.Server.KiBPerConn > 0 && r.Server.GoroutinesPeak >= r.Server.GoroutinesBefore+20
		}},
		{spec{Scenario: "echo", Conns: 10, Size: 64, Inflight: 1, Duration: window}, func(r row) bool {
			res := r.Result.(load.EchoResult)
			return res.Received > 0 && res.Lost == 0 && r.Server.CPUMicrosPerRoundTrip > 0 &&
				r.Server.CPUSecondsPerMillion == r.Server.CPUMicrosPerRoundTrip
		}},
		{spec{Scenario: "broadcast", Subs: 20, Pubs: 2, Rate: 100, Size: 64, Duration: window}, func(r row) bool {
			res := r.Result.(load.BroadcastResult)
			return res.Drained && res.Lost == 0 && r.Server.CPUSecondsPerMillion > 0
		}},
		{spec{Scenario: "churn", Conns: 5, Rate: 50, Duration: window}, func(r row) bool {
			res := r.Result.(load.ChurnResult)
			a := r.Server.After
			return res.Errors == 0 && a != nil && a.Baseline &&
				a.FDs <= r.Server.FDsBefore && a.Goroutines <= r.Server.GoroutinesBefore
		}},
		// The independent clients, in a process of their own: the server's
		// CPU per message is over the phase they measured, and they report
		// their own.
		{spec{Scenario: "echo", Conns: 10, Size: 64, Inflight: 1, Duration: window, Client: load.ClientIndependent}, func(r row) bool {
			res := r.Result.(load.EchoResult)
			p := res.Phase
			return res.Client == load.ClientIndependent && res.Received > 0 && res.Lost == 0 && res.Drained &&
				p != nil && p.ServerCPU > 0 && p.LoadCPU > 0 && r.Server.CPUBasis == "window" &&
				r.Server.CPUMicrosPerRoundTrip == p.ServerCPU/float64(p.Messages)*1e6 &&
				r.Load != nil && r.Load.CPUSeconds >= p.LoadCPU && r.Load.MaxRSSMiB > 0
		}},
		{spec{Scenario: "broadcast", Subs: 20, Pubs: 2, Rate: 100, Size: 64, Duration: window, Client: load.ClientIndependent,
			Drain: 5 * time.Second}, func(r row) bool {
			res := r.Result.(load.BroadcastResult)
			p := res.Phase
			return res.Client == load.ClientIndependent && res.Drained && res.Lost == 0 && res.Delivered == res.Published*20 &&
				p != nil && p.Messages == res.Delivered && r.Server.CPUBasis == "publishing and drain" &&
				r.Server.CPUSecondsPerMillion > 0 && r.Load != nil
		}},
	} {
		t.Run(c.spec.Scenario+"/"+c.spec.Client, func(t *testing.T) {
			r := runLib(context.Background(), env{bins: bins}, "gorilla", c.spec)
			if r.Error != "" {
				t.Fatal(r.Error)
			}
			sv := r.Server
			if sv.RSSPeakMiB <= 0 || sv.ThreadsPeak < 1 || sv.FDsPeak <= sv.FDsBefore || sv.GoroutinesPeak <= sv.GoroutinesBefore {
				t.Errorf("server: %+v", sv)
			}
			if !c.check(r) {
				t.Errorf("%+v", r)
			}
		})
	}
}

// The same over wss://: each peer serves the runner's certificate, the
// load trusts it, and the figures come out as for ws://.
func TestRunLibTLS(t *testing.T) {
	bins := buildTestPeers(t)
	w, err := newWSS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range []string{"shoal", "gorilla"} {
		t.Run(lib, func(t *testing.T) {
			idle := runLib(context.Background(), env{bins, w}, lib, spec{Scenario: "idle", Conns: 20, TLS: true})
			if idle.Error != "" || idle.Result.(load.IdleResult).Open != 20 {
				t.Fatalf("idle: %+v", idle)
			}
			// gorilla holds a goroutine per connection; shoal none, TLS
			// or not.
			extra := idle.Server.GoroutinesPeak - idle.Server.GoroutinesBefore
			if (lib == "gorilla") != (extra >= 20) {
				t.Fatalf("idle: %d goroutines more with 20 connections", extra)
			}
			for _, client := range []string{load.ClientReactor, load.ClientIndependent} {
				echo := runLib(context.Background(), env{bins, w}, lib, spec{Scenario: "echo", Conns: 10, Size: 1024, Inflight: 1,
					Duration: 600 * time.Millisecond, TLS: true, Client: client})
				res, _ := echo.Result.(load.EchoResult)
				if echo.Error != "" || res.Received == 0 || res.Lost != 0 || echo.Server.CPUMicrosPerRoundTrip <= 0 {
					t.Fatalf("echo, %s: %+v", client, echo)
				}
			}
		})
	}
	// A wss:// spec with no certificate is an error, not a ws:// run.
	if r := runLib(context.Background(), env{bins: bins}, "shoal", spec{Scenario: "idle", Conns: 1, TLS: true}); r.Error == "" {
		t.Fatal("ran wss:// without a certificate")
	}
}
