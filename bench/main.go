// Command bench compares shoal with other Go WebSocket libraries: it runs
// load scenarios (package load) against each library's peer server
// (package peers), each run in a fresh server process, and reports the
// client-side measures with the server process's CPU, memory, threads,
// goroutines and file descriptors. One command runs the default
// comparison, every scenario against every library:
//
//	go run .
//
// It writes results.md, results.json and SVG charts under
// results/<UTC time>/, prints the markdown on stdout and its progress on
// stderr. A single scenario, or smaller settings:
//
//	go run . -scenario echo -libs shoal,gorilla -conns 200 -size 64,1024 -duration 5s
//	go run . -quick -libs shoal,gorilla
//
// With -tls every run is over wss://, each library with its TLS: a
// throwaway CA signs the certificate the peers serve, and the load's
// connections trust it alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"time"
)

func main() {
	log.SetFlags(0)
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

// run builds the peers, runs every spec against every library, and
// writes the results after each spec, so an interrupted comparison
// keeps what it measured.
func run(ctx context.Context, o options) error {
	began := time.Now()
	specs, err := plan(o.scenario, o.st)
	if err != nil {
		return err
	}
	for i := range specs {
		specs[i].TLS = o.tls
	}
	typical, worst := estimate(specs, len(o.libs))
	log.Printf("%d runs × %d libraries: about %v, at most %v",
		len(specs), len(o.libs), typical.Round(time.Second), worst.Round(time.Second))
	if o.dryRun {
		for _, s := range specs {
			oh := s.overhead()
			fmt.Printf("%s: %v to %v per library\n", s.title(),
				(s.Duration + oh.typical).Round(time.Second/10), (s.Duration + oh.worst).Round(time.Second/10))
		}
		return nil
	}
	tmp, err := os.MkdirTemp("", "shoal-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	log.Printf("building the peers")
	bins, err := buildPeers(tmp, o.libs, slices.ContainsFunc(specs, spec.independent))
	if err != nil {
		return err
	}
	e := env{bins: bins}
	if o.tls {
		if e.wss, err = newWSS(tmp); err != nil {
			return err
		}
	}
	rep := report{
		Machine: readMachine(bins, o.libs),
		// How to run it again: the runner is normally run with go run.
		Command: append([]string{"go", "run", "."}, os.Args[1:]...),
		Options: o.jsonable(),
	}
	dir := runDir(o.out, began)
	n := 0
	for _, s := range specs {
		res := runResult{Spec: s, Title: s.title()}
		for _, lib := range o.libs {
			n++
			log.Printf("[%d/%d %v] %s: %s", n, len(specs)*len(o.libs), time.Since(began).Round(time.Second), s.title(), lib)
			r := runLib(ctx, e, lib, s)
			log.Printf("    %s", progress(s, r))
			res.Rows = append(res.Rows, r)
			if ctx.Err() != nil {
				break
			}
		}
		rep.Runs = append(rep.Runs, res)
		if _, err := write(dir, rep); err != nil {
			return err
		}
		if ctx.Err() != nil {
			log.Printf("interrupted: the results so far are in %s", dir)
			break
		}
	}
	md, err := write(dir, rep)
	if err != nil {
		return err
	}
	fmt.Print(md)
	log.Printf("wrote %s in %v", dir, time.Since(began).Round(time.Second))
	return nil
}

// progress is a row's headline figure, and its issues, for stderr.
func progress(s spec, r row) string {
	c := columns(s)[1] // after the client: the headline
	line := c.head + " " + c.cell(r)
	if is := issues(r); is != "" {
		line += "; " + is
	}
	return line
}
