package main

import (
	"strings"
	"testing"

	"github.com/shoalws/shoal/bench/load"
)

// echoRow is a library's echo run with the two ranked figures set.
func echoRow(lib string, rtps, cpuUs float64, err string) row {
	return row{
		Lib:    lib,
		Result: load.EchoResult{RoundTripsPerSec: rtps, Received: 1000, Drained: true},
		Server: server{CPUMicrosPerRoundTrip: cpuUs, RSSPeakMiB: 10},
		Error:  err,
	}
}

// cellsOf returns the cells of lib's line of a markdown table.
func cellsOf(t *testing.T, md, lib string) []string {
	t.Helper()
	for _, line := range strings.Split(md, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if strings.Trim(cells[0], "*") == lib {
			return cells
		}
	}
	t.Fatalf("no line for %s in\n%s", lib, md)
	return nil
}

func TestTableRatios(t *testing.T) {
	// Echo's table: the client is cell 1; round trips/s then its ratio
	// are cells 2 and 3 (higher is better); CPU µs per round trip then
	// its ratio are 7 and 8 (lower is better).
	const client, rtps, rtpsRatio, cpu, cpuRatio = 1, 2, 3, 7, 8
	for _, c := range []struct {
		name string
		rows []row
		want map[string]map[int]string // lib → cell index → text
	}{
		{
			name: "best other by direction",
			rows: []row{echoRow("shoal", 200, 5, ""), echoRow("gorilla", 100, 10, ""), echoRow("gws", 50, 20, "")},
			want: map[string]map[int]string{
				// shoal against gorilla's 100 and 10, the best of the others.
				"shoal": {client: "reactor", rtps: "200", rtpsRatio: "2.00×", cpu: "5.00", cpuRatio: "0.50×"},
				// gorilla and gws against shoal.
				"gorilla": {rtpsRatio: "0.50×", cpuRatio: "2.00×"},
				"gws":     {rtpsRatio: "0.25×", cpuRatio: "4.00×"},
			},
		},
		{
			name: "a failed run is nobody's best and has no ratio",
			rows: []row{echoRow("shoal", 200, 5, ""), echoRow("gorilla", 100, 10, ""), echoRow("nbio", 900, 1, "peer nbio exited")},
			want: map[string]map[int]string{
				"shoal": {rtpsRatio: "2.00×", cpuRatio: "0.50×"},
				"nbio":  {rtpsRatio: "-", cpuRatio: "-"},
			},
		},
		{
			name: "one library: nothing to compare",
			rows: []row{echoRow("shoal", 200, 5, "")},
			want: map[string]map[int]string{"shoal": {rtps: "200", rtpsRatio: "-", cpuRatio: "-"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			md := table(columns(spec{Scenario: "echo"}), c.rows)
			for lib, want := range c.want {
				cells := cellsOf(t, md, lib)
				for i, w := range want {
					if i >= len(cells) || cells[i] != w {
						t.Errorf("%s cell %d: got %q, want %q\n%s", lib, i, cells, w, md)
					}
				}
			}
		})
	}
}

func TestTableIssuesColumn(t *testing.T) {
	ok := []row{echoRow("shoal", 200, 5, ""), echoRow("gorilla", 100, 10, "")}
	if md := table(columns(spec{Scenario: "echo"}), ok); strings.Contains(md, "issues") {
		t.Errorf("issues column without issues:\n%s", md)
	}
	bad := append(ok, echoRow("gws", 0, 0, "peer gws not ready in 15s"))
	md := table(columns(spec{Scenario: "echo"}), bad)
	cells := cellsOf(t, md, "gws")
	if last := cells[len(cells)-1]; last != "error: peer gws not ready in 15s" {
		t.Errorf("issues cell %q\n%s", last, md)
	}
}

func TestVersus(t *testing.T) {
	for _, c := range []struct {
		name string
		rows []row
		want string
	}{
		{"ahead both ways",
			[]row{echoRow("shoal", 200, 5, ""), echoRow("gorilla", 100, 10, "")},
			"**shoal vs best peer:** round trips/s 2.00× gorilla (higher is better; ahead); " +
				"server CPU µs/round trip (= s per 1M msgs) 0.50× gorilla (lower is better; ahead)."},
		{"behind both ways",
			[]row{echoRow("gws", 300, 2, ""), echoRow("shoal", 150, 4, "")},
			"**shoal vs best peer:** round trips/s 0.50× gws (higher is better; behind); " +
				"server CPU µs/round trip (= s per 1M msgs) 2.00× gws (lower is better; behind)."},
		{"level",
			[]row{echoRow("shoal", 100, 10, ""), echoRow("gws", 100, 10, "")},
			"**shoal vs best peer:** round trips/s 1.00× gws (higher is better; level); " +
				"server CPU µs/round trip (= s per 1M msgs) 1.00× gws (lower is better; level)."},
		{"shoal failed",
			[]row{echoRow("shoal", 0, 0, "boom"), echoRow("gws", 100, 10, "")},
			"**shoal vs best peer:** shoal failed this run."},
		{"no shoal", []row{echoRow("gws", 100, 10, ""), echoRow("gorilla", 50, 10, "")}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := versus(columns(spec{Scenario: "echo"}), c.rows); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// Every scenario's table renders a line per row, even for a row whose
// peer never started (no result).
func TestTableEveryScenario(t *testing.T) {
	results := map[string]any{
		"idle":      load.IdleResult{Conns: 10, Open: 10, HandshakesPerSec: 1000},
		"echo":      load.EchoResult{RoundTripsPerSec: 1000, Received: 10, Drained: true},
		"broadcast": load.BroadcastResult{DeliveriesPerSec: 1000, Published: 10, Drained: true},
		"churn":     load.ChurnResult{Dials: 5},
	}
	phase := &load.PhaseCPU{Seconds: 2, Messages: 1000, ServerCPU: 1, LoadCPU: 1.5}
	independent := map[string]any{
		"echo":      load.EchoResult{RoundTripsPerSec: 1000, Received: 10, Drained: true, Client: load.ClientIndependent, Phase: phase},
		"broadcast": load.BroadcastResult{DeliveriesPerSec: 1000, Published: 10, Drained: true, Client: load.ClientIndependent, Phase: phase},
	}
	check := func(t *testing.T, s spec, res any, client string) {
		rows := []row{
			{Lib: "shoal", Result: res, Server: server{After: &settled{Baseline: true}}},
			{Lib: "gorilla", Error: "peer gorilla exited before it was ready"},
		}
		md := table(columns(s), rows)
		if n := strings.Count(md, "\n"); n != 4 {
			t.Errorf("%d lines, want head, rule and 2 rows:\n%s", n, md)
		}
		if got := len(cellsOf(t, md, "gorilla")); got != len(cellsOf(t, md, "lib")) {
			t.Errorf("gorilla has %d cells, the head %d:\n%s", got, len(cellsOf(t, md, "lib")), md)
		}
		if got := cellsOf(t, md, "shoal")[1]; got != client {
			t.Errorf("client %q, want %q:\n%s", got, client, md)
		}
		// The independent clients' tables have the phase's cores.
		if s.independent() != strings.Contains(md, "| load cores |") ||
			s.independent() && !strings.Contains(md, "| 0.50 | 0.75 |") {
			t.Errorf("cores columns:\n%s", md)
		}
	}
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			check(t, spec{Scenario: sc, Client: load.ClientReactor}, results[sc], "reactor")
			if res, ok := independent[sc]; ok {
				check(t, spec{Scenario: sc, Client: load.ClientIndependent}, res, "independent")
			}
		})
	}
}
