package main

import (
	"errors"
	"sync"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// procSample is one reading of the server process: /proc counters and
// the goroutines it reports itself.
type procSample struct {
	RSS        int64   // bytes
	CPU        float64 // seconds, user + system, since the process began
	Threads    int
	FDs        int
	Goroutines int
}

// sample reads p's counters now.
func (p *peer) sample() (procSample, error) {
	pid := p.cmd.Process.Pid
	rss, cpu, threads, err := load.ProcStats(pid)
	if err != nil {
		return procSample{}, err
	}
	fds, ferr := openFDs(pid)
	g, gerr := p.goroutines()
	return procSample{RSS: rss, CPU: cpu, Threads: threads, FDs: fds, Goroutines: g}, errors.Join(ferr, gerr)
}

// peakOf is the largest of each counter over two samples (CPU, which
// only grows, the later).
func peakOf(a, b procSample) procSample {
	return procSample{
		RSS:        max(a.RSS, b.RSS),
		CPU:        max(a.CPU, b.CPU),
		Threads:    max(a.Threads, b.Threads),
		FDs:        max(a.FDs, b.FDs),
		Goroutines: max(a.Goroutines, b.Goroutines),
	}
}

// sampleEvery is how often a sampler reads the server under load: often
// enough to catch a peak of a few hundred milliseconds, rarely enough
// to cost the server nothing it would notice.
const sampleEvery = 250 * time.Millisecond

// sampler reads a peer's counters in the background until stopped and
// keeps their peaks: the memory of a broadcast peaks during its drain,
// after the publishing window, so one reading at a set time would miss
// it.
type sampler struct {
	p    *peer
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	peak  procSample
	first error // the first failed reading
}

func startSampler(p *peer) *sampler {
	s := &sampler{p: p, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		s.add(s.p.sample())
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// add folds one reading into the peaks.
func (s *sampler) add(ps procSample, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.first == nil {
			s.first = err
		}
		return
	}
	s.peak = peakOf(s.peak, ps)
}

// finish stops the sampler and returns the peaks.
func (s *sampler) finish() (procSample, error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.first
}
