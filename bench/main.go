// Command bench runs a load scenario (package load) against each peer
// server library in turn, each in its own process, and reports the
// client-side measures with the server process's CPU, memory and
// threads: a markdown table on stdout, JSON under results/.
//
//	go run . -scenario echo -libs shoal,gorilla -conns 200 -duration 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// options are the command line.
type options struct {
	scenario  string
	libs      []string
	conns     int
	size      int
	inflight  int
	duration  time.Duration
	subs      int
	pubs      int
	rate      float64
	churnRate float64
	out       string
}

func parseFlags() options {
	var o options
	var libs string
	flag.StringVar(&o.scenario, "scenario", "echo", "idle, echo, broadcast or churn")
	flag.StringVar(&libs, "libs", "shoal,gorilla,gws,nbio,gobwas", "peer libraries, comma-separated")
	flag.IntVar(&o.conns, "conns", 0, "connections (default: idle 10000, echo 1000, churn 100 steady)")
	flag.IntVar(&o.size, "size", 64, "payload bytes (echo, broadcast)")
	flag.IntVar(&o.inflight, "inflight", 1, "messages in flight per connection (echo)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each run lasts")
	flag.IntVar(&o.subs, "subs", 5000, "subscribers (broadcast)")
	flag.IntVar(&o.pubs, "pubs", 10, "publishers among the subscribers (broadcast)")
	flag.Float64Var(&o.rate, "rate", 100, "messages/s published in all (broadcast)")
	flag.Float64Var(&o.churnRate, "churn-rate", 200, "connects/s (churn)")
	flag.StringVar(&o.out, "out", "results", "directory for the JSON results")
	flag.Parse()
	o.libs = strings.Split(libs, ",")
	if o.conns == 0 {
		o.conns = map[string]int{"idle": 10000, "echo": 1000, "churn": 100}[o.scenario]
	}
	return o
}

func main() {
	log.SetFlags(0)
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tmp, err := os.MkdirTemp("", "shoal-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	bin, err := buildPeer(tmp)
	if err != nil {
		log.Fatal(err)
	}
	var rows []row
	for _, lib := range o.libs {
		log.Printf("%s: %s", o.scenario, lib)
		r := runLib(ctx, bin, lib, o)
		if r.Error != "" {
			log.Printf("%s: %s", lib, r.Error)
		}
		rows = append(rows, r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Print(table(o.scenario, rows))
	path, err := writeJSON(o, rows)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", path)
}

// runLib starts lib's peer, runs the scenario against it and stops it.
func runLib(ctx context.Context, bin, lib string, o options) row {
	r := row{Lib: lib}
	p, err := startPeer(bin, lib, o.scenario == "broadcast")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer p.stop()
	pid := p.cmd.Process.Pid
	before, err := readProc(pid)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Result, err = runScenario(ctx, p.addr, o, func() { r.Peak, _ = readProc(pid) })
	after, perr := readProc(pid)
	if err == nil {
		err = perr
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Server = serverStats(before, r.Peak, after)
	return r
}

// runScenario runs o.scenario; atPeak is called while the load is at
// its height (for idle: every connection open), to sample the server.
func runScenario(ctx context.Context, addr string, o options, atPeak func()) (any, error) {
	switch o.scenario {
	case "idle":
		return load.Idle(ctx, addr, o.conns, atPeak)
	case "echo":
		return during(o.duration, atPeak, func() (any, error) {
			return load.Echo(ctx, addr, o.conns, o.size, o.inflight, o.duration)
		})
	case "broadcast":
		return during(o.duration, atPeak, func() (any, error) {
			return load.Broadcast(ctx, addr, o.subs, o.pubs, o.rate, o.size, o.duration)
		})
	case "churn":
		return during(o.duration, atPeak, func() (any, error) {
			return load.Churn(ctx, addr, o.conns, o.churnRate, o.duration)
		})
	}
	return nil, fmt.Errorf("unknown scenario %q", o.scenario)
}

// during runs f and calls atPeak once, near the end of a scenario that
// lasts about d (it connects first, so d*9/10 in, it is still running):
// memory and threads are then at their height. atPeak has returned by
// the time during does, so its writes are safe to read.
func during(d time.Duration, atPeak func(), f func() (any, error)) (any, error) {
	done := make(chan struct{})
	t := time.AfterFunc(d*9/10, func() {
		atPeak()
		close(done)
	})
	res, err := f()
	if !t.Stop() {
		<-done
	}
	return res, err
}
