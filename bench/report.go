package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// row is one library's run of a scenario.
type row struct {
	Lib    string     `json:"lib"`
	Result any        `json:"result,omitempty"` // a load.*Result
	Server server     `json:"server"`
	Peak   procSample `json:"-"`
	Error  string     `json:"error,omitempty"`
}

// procSample is one reading of a process's /proc counters.
type procSample struct {
	RSS     int64
	CPU     float64
	Threads int
}

func readProc(pid int) (procSample, error) {
	rss, cpu, threads, err := load.ProcStats(pid)
	return procSample{rss, cpu, threads}, err
}

// server is what the server process spent on the scenario.
type server struct {
	RSSBeforeMiB float64 `json:"rss_before_mib"`
	RSSPeakMiB   float64 `json:"rss_peak_mib"` // sampled under load
	ThreadsPeak  int     `json:"threads_peak"`
	CPUSeconds   float64 `json:"cpu_seconds"` // user + system over the run
}

func serverStats(before, peak, after procSample) server {
	const mib = 1 << 20
	return server{
		RSSBeforeMiB: float64(before.RSS) / mib,
		RSSPeakMiB:   float64(peak.RSS) / mib,
		ThreadsPeak:  peak.Threads,
		CPUSeconds:   after.CPU - before.CPU,
	}
}

// table renders rows as markdown: the scenario's headline figures, the
// correctness counters, then the server's costs.
func table(scenario string, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| lib | %s | p50 µs | p99 µs | lost | reordered | server CPU s | RSS MiB (peak) | threads | error |\n", headline(scenario))
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		v, lat, lost, reord := figures(r.Result)
		p50, p99 := "-", "-" // idle measures no latency
		if lat.Samples > 0 {
			p50, p99 = fmt.Sprintf("%.0f", lat.P50us), fmt.Sprintf("%.0f", lat.P99us)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %d | %d | %.2f | %.1f | %d | %s |\n",
			r.Lib, v, p50, p99, lost, reord,
			r.Server.CPUSeconds, r.Server.RSSPeakMiB, r.Server.ThreadsPeak, r.Error)
	}
	return b.String()
}

func headline(scenario string) string {
	return map[string]string{
		"idle": "handshakes/s", "echo": "round trips/s",
		"broadcast": "deliveries/s", "churn": "steady round trips/s",
	}[scenario]
}

// figures picks the headline value, latency and error counts of a result.
func figures(res any) (v float64, lat load.Latency, lost, reordered uint64) {
	switch r := res.(type) {
	case load.IdleResult:
		return r.HandshakesPerSec, lat, r.Dropped, 0
	case load.EchoResult:
		return r.RoundTripsPerSec, r.Latency, r.Lost, r.Reordered
	case load.BroadcastResult:
		return r.DeliveriesPerSec, r.Latency, r.Lost, r.Reordered
	case load.ChurnResult:
		return r.Steady.RoundTripsPerSec, r.Steady.Latency, r.Errors, r.Steady.Reordered
	}
	return 0, lat, 0, 0
}

// writeJSON writes the run, options included, to a new file under o.out.
func writeJSON(o options, rows []row) (string, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	doc := struct {
		Scenario string    `json:"scenario"`
		When     time.Time `json:"when"`
		Options  any       `json:"options"`
		Rows     []row     `json:"rows"`
	}{o.scenario, time.Now().UTC(), o.jsonable(), rows}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s.json", o.scenario, time.Now().UTC().Format("20060102T150405Z"))
	path := filepath.Join(o.out, name)
	return path, os.WriteFile(path, append(data, '\n'), 0o644)
}

// jsonable is the options as recorded with the results.
func (o options) jsonable() map[string]any {
	return map[string]any{
		"libs": o.libs, "conns": o.conns, "size": o.size, "inflight": o.inflight,
		"duration": o.duration.String(), "subs": o.subs, "pubs": o.pubs,
		"rate": o.rate, "churn_rate": o.churnRate,
	}
}
