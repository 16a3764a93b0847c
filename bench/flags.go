package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are the command line, resolved.
type options struct {
	scenario string
	libs     []string
	out      string
	quick    bool
	dryRun   bool
	tls      bool
	st       settings
}

// defaults are the settings of the default comparison, sized so that
// all of it runs in well under 15 minutes on a 2-core machine.
func defaults() settings {
	return settings{
		idleConns:    10000,
		echoConns:    1000,
		echoSizes:    []int{64, 1 << 10, 16 << 10},
		inflight:     1,
		echoDuration: 7 * time.Second,
		// A rate every library carries on 2 cores: 20 round trips/s a
		// connection, so each of the server's wake-ups finds few ready.
		echoRates:  []float64{20000},
		subs:       []int{5000, 10000},
		pubs:       10,
		bcastSizes: []int{64},
		deliveries: 500000,
		// The ceiling: where the servers stop keeping up.
		ceiling: []float64{1e6, 2.5e6},
		// Long enough for any server that keeps up to empty its queues;
		// those far behind at the ceiling would take minutes, and 10 s
		// keeps the whole comparison near 12 minutes.
		drain:  10 * time.Second,
		client: clientAuto,
		// Short: the libraries that fall behind took up to three
		// windows more to drain their backlog, and load waits 30 s at
		// most; 5 s keeps their drain inside it, and the whole in time.
		bcastDuration: 5 * time.Second,
		churnConns:    100,
		churnRate:     200,
		churnDuration: 8 * time.Second,
	}
}

// quickSettings are a smoke run of every scenario: about 15 s per
// library.
func quickSettings() settings {
	return settings{
		idleConns:     1000,
		echoConns:     100,
		echoSizes:     []int{64, 16 << 10},
		inflight:      1,
		echoDuration:  time.Second,
		echoRates:     []float64{2000},
		subs:          []int{200, 400},
		pubs:          10,
		bcastSizes:    []int{64},
		deliveries:    20000,
		ceiling:       []float64{50000},
		drain:         5 * time.Second,
		client:        clientAuto,
		bcastDuration: time.Second,
		churnConns:    20,
		churnRate:     50,
		churnDuration: time.Second,
	}
}

// parseFlags reads args; usage and parse errors go to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var libs, sizes, subs, ceiling string
	var conns, inflight, pubs int
	var duration, drain time.Duration
	var rate, deliveries, churnRate float64
	fs.StringVar(&o.scenario, "scenario", "all", "idle, echo, broadcast, churn, compress or all (all but compress)")
	fs.StringVar(&libs, "libs", "shoal,gorilla,gws,nbio,gobwas", "peer libraries, comma-separated")
	fs.StringVar(&o.out, "out", "results", "directory under which each invocation writes <UTC time>/results.{md,json} and charts")
	fs.BoolVar(&o.quick, "quick", false, "a smoke run of every setting at a small scale (flags given still apply)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the runs and how long they should take, and run nothing")
	fs.BoolVar(&o.tls, "tls", false, "run over wss://: every library with its own TLS (crypto/tls; nbio its fork)")
	fs.IntVar(&conns, "conns", 0, "connections of idle, echo and churn's steady echo (default 10000, 1000, 100)")
	fs.StringVar(&sizes, "size", "", "payload bytes, comma-separated: one run each (default: echo 64,1024,16384; broadcast 64)")
	fs.IntVar(&inflight, "inflight", 0, "messages in flight per connection, echo (default 1)")
	var echoRates string
	fs.StringVar(&echoRates, "echo-rate", "", `round trips/s asked in further echo runs at the first size, independent clients paced evenly, one in flight; comma-separated, or "none" (default 20000)`)
	fs.DurationVar(&duration, "duration", 0, "load window of echo, broadcast and churn runs (default 7s, 5s, 8s)")
	fs.StringVar(&subs, "subs", "", "broadcast subscribers, comma-separated: one run each (default 5000,10000)")
	fs.IntVar(&pubs, "pubs", 0, "publishers among the subscribers (default 10)")
	fs.Float64Var(&rate, "rate", 0, "broadcast messages/s published in all (default: -deliveries / subscribers)")
	fs.Float64Var(&deliveries, "deliveries", 0, "broadcast deliveries/s asked of all subscribers together, when -rate is not given (default 500000)")
	fs.Float64Var(&churnRate, "churn-rate", 0, "connects/s, churn (default 200)")
	fs.StringVar(&ceiling, "ceiling", "", `broadcast deliveries/s asked in further runs at the first subscriber count, comma-separated, or "none" (default 1000000,2500000)`)
	fs.DurationVar(&drain, "drain", 0, "bound on an independent broadcast's drain (default 10s; the reactor client waits 30s)")
	var client string
	fs.StringVar(&client, "client", "", "load client of echo and broadcast: independent (a goroutine per connection, in a process of its own), "+
		"reactor (shoal's client role, in this process), both, or auto (default: independent, and reactor again for the first echo and broadcast run); "+
		"idle, churn and compress always run on the reactor client")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.st = defaults()
	if o.quick {
		o.st = quickSettings()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	st := &o.st
	if set["conns"] {
		st.idleConns, st.echoConns, st.churnConns = conns, conns, conns
	}
	if set["size"] {
		l, err := intList(sizes)
		if err != nil {
			return o, fmt.Errorf("-size: %w", err)
		}
		st.echoSizes, st.bcastSizes = l, l
	}
	if set["subs"] {
		l, err := intList(subs)
		if err != nil {
			return o, fmt.Errorf("-subs: %w", err)
		}
		st.subs = l
	}
	if set["duration"] {
		st.echoDuration, st.bcastDuration, st.churnDuration = duration, duration, duration
	}
	if set["inflight"] {
		st.inflight = inflight
	}
	if set["echo-rate"] {
		st.echoRates = nil
		if echoRates != "none" {
			l, err := floatList(echoRates)
			if err != nil {
				return o, fmt.Errorf("-echo-rate: %w", err)
			}
			st.echoRates = l
		}
	}
	if set["pubs"] {
		st.pubs = pubs
	}
	if set["rate"] {
		st.rate = rate
	}
	if set["deliveries"] {
		st.deliveries = deliveries
	}
	if set["churn-rate"] {
		st.churnRate = churnRate
	}
	if set["ceiling"] {
		st.ceiling = nil
		if ceiling != "none" {
			l, err := floatList(ceiling)
			if err != nil {
				return o, fmt.Errorf("-ceiling: %w", err)
			}
			st.ceiling = l
		}
	}
	if set["drain"] {
		st.drain = drain
	}
	if set["client"] {
		st.client = client
	}
	for _, l := range strings.Split(libs, ",") {
		if l = strings.TrimSpace(l); l != "" {
			o.libs = append(o.libs, l)
		}
	}
	return o, o.check()
}

// check rejects settings no run could use.
func (o options) check() error {
	if len(o.libs) == 0 {
		return errors.New("-libs: no library")
	}
	for _, l := range o.libs {
		if modules[l] == "" {
			return fmt.Errorf("-libs: unknown library %q (want shoal, gorilla, gws, nbio or gobwas)", l)
		}
	}
	st := o.st
	switch {
	case st.idleConns < 1 || st.echoConns < 1 || st.churnConns < 0:
		return errors.New("-conns: need at least 1")
	case st.inflight < 1:
		return errors.New("-inflight: need at least 1")
	case st.echoDuration <= 0 || st.bcastDuration <= 0 || st.churnDuration <= 0:
		return errors.New("-duration: need more than 0")
	case st.rate < 0 || st.deliveries <= 0 || st.churnRate <= 0:
		return errors.New("-rate, -deliveries, -churn-rate: need more than 0")
	case st.drain <= 0:
		return errors.New("-drain: need more than 0")
	case len(st.echoRates) > 0 && st.inflight != 1:
		return errors.New(`-echo-rate: a paced echo keeps one message in flight: -inflight 1, or -echo-rate none`)
	}
	switch st.client {
	case clientAuto, clientIndependent, clientReactor, clientBoth:
	default:
		return fmt.Errorf("-client %q: want auto, independent, reactor or both", st.client)
	}
	for _, n := range append(slices.Clone(st.echoSizes), st.bcastSizes...) {
		if n < minSize {
			return fmt.Errorf("-size %d: the scenarios need at least %d bytes (sequence number and timestamp)", n, minSize)
		}
	}
	for _, s := range st.subs {
		if s < st.pubs || st.pubs < 1 {
			return fmt.Errorf("-subs %d, -pubs %d: need 1 <= publishers <= subscribers", s, st.pubs)
		}
	}
	return nil
}

// minSize is the smallest payload package load sends: its header.
const minSize = 16

// intList parses "64,1024,16384".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// floatList parses "1000000,2500000".
func floatList(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// jsonable is the options as recorded with the results.
func (o options) jsonable() map[string]any {
	st := o.st
	return map[string]any{
		"scenario": o.scenario, "libs": o.libs, "quick": o.quick, "tls": o.tls,
		"idle_conns": st.idleConns, "echo_conns": st.echoConns, "echo_sizes": st.echoSizes,
		"inflight": st.inflight, "echo_duration": st.echoDuration.String(), "echo_rates": st.echoRates,
		"subs": st.subs, "pubs": st.pubs, "broadcast_sizes": st.bcastSizes, "rate": st.rate,
		"deliveries": st.deliveries, "ceiling": st.ceiling, "broadcast_duration": st.bcastDuration.String(),
		"drain": st.drain.String(), "client": st.client,
		"churn_conns": st.churnConns, "churn_rate": st.churnRate, "churn_duration": st.churnDuration.String(),
	}
}
