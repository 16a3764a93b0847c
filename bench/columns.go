package main

import (
	"fmt"
	"strings"

	"github.com/shoalws/shoal/bench/load"
)

// better says which way a figure improves, and so which other library
// is the best one to compare with.
type better int

const (
	unranked better = iota
	higher
	lower
)

func (b better) String() string {
	return [...]string{"", "higher is better", "lower is better"}[b]
}

// column is one figure of a scenario's table. num, when set, is the
// figure as a number, for the ratio column (if ranked) and the charts;
// it reports false where the row has no such figure.
type column struct {
	key    string // names the figure for charts
	head   string
	cell   func(row) string
	num    func(row) (float64, bool)
	better better
}

// figure is a numeric column whose cell is the number.
func figure(key, head string, b better, value func(row) (float64, bool)) column {
	return column{key: key, head: head, better: b, num: value, cell: func(r row) string {
		v, ok := value(r)
		if !ok {
			return "-"
		}
		return num(v)
	}}
}

// text is a column of text only.
func text(head string, cell func(row) string) column { return column{head: head, cell: cell} }

// columns are the table of a run: the client that produced the row, then
// the headline figure and the rest. The reactor client's figures of CPU per message
// divide the whole run's CPU, the independent clients' that of the
// measured phase, and only they report the load's CPU there.
func columns(s spec) []column {
	cols := scenarioColumns(s)
	if len(cols) == 0 {
		return nil
	}
	client := text("client", func(r row) string {
		c := ""
		switch res := r.Result.(type) {
		case load.EchoResult:
			c = res.Client
		case load.BroadcastResult:
			c = res.Client
		case nil:
			return "-"
		}
		if c == "" { // the only client there was, and idle's and churn's
			c = load.ClientReactor
		}
		return c
	})
	return append([]column{client}, cols...)
}

// phaseColumns are the server's and the load's CPU use over an
// independent run's measured phase, in cores: a load near the machine's
// cores less the server's says the client may have been the limit.
func phaseColumns(phase func(row) *load.PhaseCPU) []column {
	cores := func(key, head string, pick func(*load.PhaseCPU) float64) column {
		return figure(key, head, unranked, func(r row) (float64, bool) {
			if p := phase(r); p != nil && p.Seconds > 0 {
				return pick(p), true
			}
			return 0, false
		})
	}
	return []column{
		cores("server_cores", "server cores", (*load.PhaseCPU).ServerCores),
		cores("load_cores", "load cores", (*load.PhaseCPU).LoadCores),
	}
}

// scenarioColumns are columns without the client's.
func scenarioColumns(s spec) []column {
	rss := figure("rss_peak", "RSS peak MiB", unranked, func(r row) (float64, bool) {
		return r.Server.RSSPeakMiB, r.Result != nil && r.Server.RSSPeakMiB > 0
	})
	cpu := figure("cpu", "server CPU s", unranked, func(r row) (float64, bool) { return r.Server.CPUSeconds, r.Result != nil })
	peaks := text("goroutines / threads (peak)", func(r row) string {
		if r.Result == nil {
			return "-"
		}
		return fmt.Sprintf("%s / %d", group(fmt.Sprint(r.Server.GoroutinesPeak)), r.Server.ThreadsPeak)
	})
	switch s.Scenario {
	case "idle":
		return []column{
			figure("kib_per_conn", "server KiB/conn", lower, func(r row) (float64, bool) {
				res, ok := r.Result.(load.IdleResult)
				return r.Server.KiBPerConn, ok && res.Open > 0
			}),
			figure("handshakes", "handshakes/s", higher, func(r row) (float64, bool) {
				res, ok := r.Result.(load.IdleResult)
				return res.HandshakesPerSec, ok && res.Open > 0
			}),
			peaks,
			figure("rss_before", "RSS before MiB", unranked, func(r row) (float64, bool) {
				return r.Server.RSSBeforeMiB, r.Result != nil && r.Server.RSSBeforeMiB > 0
			}),
			rss,
			text("open", func(r row) string {
				res, ok := r.Result.(load.IdleResult)
				if !ok {
					return "-"
				}
				return fmt.Sprintf("%d/%d", res.Open, res.Conns)
			}),
		}
	case "echo":
		lat := func(r row) (load.Latency, bool) {
			res, ok := r.Result.(load.EchoResult)
			return res.Latency, ok && res.Latency.Samples > 0
		}
		cpuHead := "server CPU µs/round trip (= s per 1M msgs)"
		if s.independent() {
			cpuHead = "server CPU µs/round trip in the window"
		}
		cols := []column{
			figure("round_trips", "round trips/s", higher, func(r row) (float64, bool) {
				res, ok := r.Result.(load.EchoResult)
				return res.RoundTripsPerSec, ok && res.Received > 0
			}),
			latencyColumn("p50", lat, func(l load.Latency) float64 { return l.P50us }),
			latencyColumn("p99", lat, func(l load.Latency) float64 { return l.P99us }),
			latencyColumn("max", lat, func(l load.Latency) float64 { return l.Maxus }),
			figure("cpu_per_msg", cpuHead, lower, func(r row) (float64, bool) {
				return r.Server.CPUMicrosPerRoundTrip, r.Server.CPUMicrosPerRoundTrip > 0
			}),
		}
		if s.independent() {
			cols = append(cols, phaseColumns(func(r row) *load.PhaseCPU {
				res, _ := r.Result.(load.EchoResult)
				return res.Phase
			})...)
		}
		return append(cols,
			figure("wire_per_msg", "wire B/echo (payload)", lower, func(r row) (float64, bool) {
				res, ok := r.Result.(load.EchoResult)
				return res.WireBytesPerMsg, ok && res.WireBytesPerMsg > 0
			}),
			counter("lost", func(r row) (uint64, bool) { res, ok := r.Result.(load.EchoResult); return res.Lost, ok }),
			counter("reordered", func(r row) (uint64, bool) { res, ok := r.Result.(load.EchoResult); return res.Reordered, ok }),
			rss,
			peaks,
		)
	case "broadcast":
		lat := func(r row) (load.Latency, bool) {
			res, ok := r.Result.(load.BroadcastResult)
			return res.Latency, ok && res.Latency.Samples > 0
		}
		cpuHead := "server CPU s per 1M deliveries"
		if s.independent() {
			cpuHead = "server CPU µs/delivery, publishing + drain"
		}
		cols := []column{
			figure("deliveries", "deliveries/s", higher, func(r row) (float64, bool) {
				res, ok := r.Result.(load.BroadcastResult)
				return res.DeliveriesPerSec, ok && res.Published > 0
			}),
			latencyColumn("p50", lat, func(l load.Latency) float64 { return l.P50us }),
			latencyColumn("p99", lat, func(l load.Latency) float64 { return l.P99us }),
			// Past the drain bound, what had not come yet may still
			// have been on its way: lost is then what a later message
			// overtook and that never came.
			counter("lost", func(r row) (uint64, bool) {
				res, ok := r.Result.(load.BroadcastResult)
				if !res.Drained {
					return res.Skipped, ok
				}
				return res.Lost, ok
			}),
			counter("reordered", func(r row) (uint64, bool) {
				res, ok := r.Result.(load.BroadcastResult)
				return res.Reordered, ok
			}),
			text("drain", func(r row) string {
				res, ok := r.Result.(load.BroadcastResult)
				switch {
				case !ok || res.Published == 0:
					return "-"
				case !res.Drained:
					return fmt.Sprintf("not in %.0f s (%s behind)", res.DrainSeconds, group(fmt.Sprint(res.Behind())))
				}
				return fmt.Sprintf("%.2f s", res.DrainSeconds)
			}),
			cpu,
			figure("cpu_per_msg", cpuHead, lower, func(r row) (float64, bool) {
				return r.Server.CPUSecondsPerMillion, r.Server.CPUSecondsPerMillion > 0
			}),
		}
		if s.independent() {
			cols = append(cols, phaseColumns(func(r row) *load.PhaseCPU {
				res, _ := r.Result.(load.BroadcastResult)
				return res.Phase
			})...)
		}
		return append(cols,
			figure("wire_per_msg", "wire B/delivery", lower, func(r row) (float64, bool) {
				res, ok := r.Result.(load.BroadcastResult)
				return res.WireBytesPerMsg, ok && res.WireBytesPerMsg > 0
			}),
			rss,
		)
	case "churn":
		churn := func(r row) (load.ChurnResult, bool) { res, ok := r.Result.(load.ChurnResult); return res, ok }
		return []column{
			figure("round_trips", "steady round trips/s", higher, func(r row) (float64, bool) {
				res, ok := churn(r)
				return res.Steady.RoundTripsPerSec, ok && res.Steady.Received > 0
			}),
			counter("errors", func(r row) (uint64, bool) { res, ok := churn(r); return res.Errors, ok }),
			text("connects", func(r row) string {
				res, ok := churn(r)
				if !ok {
					return "-"
				}
				return group(fmt.Sprint(res.Dials))
			}),
			text("fds before → after", func(r row) string {
				if r.Server.After == nil {
					return "-"
				}
				return fmt.Sprintf("%d → %d", r.Server.FDsBefore, r.Server.After.FDs)
			}),
			text("goroutines before → after", func(r row) string {
				if r.Server.After == nil {
					return "-"
				}
				return fmt.Sprintf("%d → %d", r.Server.GoroutinesBefore, r.Server.After.Goroutines)
			}),
			text("back to baseline", func(r row) string {
				a := r.Server.After
				switch {
				case a == nil:
					return "-"
				case a.Baseline:
					return fmt.Sprintf("yes, in %.1f s", a.WaitedS)
				}
				return fmt.Sprintf("**no**, after %.0f s", a.WaitedS)
			}),
			cpu,
		}
	}
	return nil
}

func latencyColumn(head string, lat func(row) (load.Latency, bool), pick func(load.Latency) float64) column {
	return text(head, func(r row) string {
		l, ok := lat(r)
		if !ok {
			return "-"
		}
		return latency(pick(l))
	})
}

// counter is a count that must be 0 against a correct server: any other
// value is bold.
func counter(head string, n func(row) (uint64, bool)) column {
	return text(head, func(r row) string {
		v, ok := n(r)
		switch {
		case !ok:
			return "-"
		case v != 0:
			return fmt.Sprintf("**%s**", group(fmt.Sprint(v)))
		}
		return "0"
	})
}

// issues lists what went wrong in a row besides the counters its table
// shows: the run's error, failed connects, connections the server
// closed, refused sends, malformed messages, echoes that never came
// back.
func issues(r row) string {
	var out []string
	note := func(n uint64, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	dial := func(n int, first string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d failed connects (%s)", n, first))
		}
	}
	switch res := r.Result.(type) {
	case load.IdleResult:
		dial(res.DialErrors, res.DialError)
		note(res.Dropped, "dropped by the server")
	case load.EchoResult:
		dial(res.DialErrors, res.DialError)
		note(res.Dropped, "dropped by the server")
		note(res.SendErrors, "sends refused")
		note(res.Malformed, "malformed")
		if !res.Drained {
			out = append(out, "not drained")
		}
	case load.BroadcastResult:
		dial(res.DialErrors, res.DialError)
		note(res.Dropped, "dropped by the server")
		note(res.SendErrors, "sends refused")
		note(res.Malformed, "malformed")
		// The publishers could not keep the asked pace: the server (a
		// full socket) or the load process held them back.
		// (A message short is the window's rounding, not a lag.)
		if asked := res.Rate * res.Seconds; res.Published > 0 && float64(res.Published)+1 < 0.99*asked {
			out = append(out, fmt.Sprintf("published %.0f%% of the asked rate", 100*float64(res.Published)/asked))
		}
	case load.ChurnResult:
		dial(res.Steady.DialErrors, res.Steady.DialError)
		if res.DialErrors > 0 {
			out = append(out, fmt.Sprintf("%d churn connects failed (%s)", res.DialErrors, res.DialError))
		}
		note(res.CloseErrors, "unclean closes")
		note(res.Unclosed, "never closed")
		note(res.Behind, "connects skipped (client behind)")
	}
	if r.Error != "" {
		out = append(out, "error: "+r.Error)
	}
	// A cell is one line: the error text may not be.
	return strings.ReplaceAll(strings.Join(out, "; "), "\n", " ")
}
