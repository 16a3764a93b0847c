package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runResult is one spec's rows, one per library.
type runResult struct {
	Spec  spec   `json:"spec"`
	Title string `json:"title"`
	Rows  []row  `json:"rows"`
}

// report is everything a benchmark invocation measured, as results.json
// holds it.
type report struct {
	Machine machine        `json:"machine"`
	Command []string       `json:"command"`
	Options map[string]any `json:"options"`
	Runs    []runResult    `json:"runs"`
}

// chartFigure is a figure of a scenario's table drawn in a chart: one
// panel per run of the scenario.
type chartFigure struct{ scenario, key string }

// charts are the SVG files, each a panel per run and figure.
var charts = []struct {
	file, title string
	figures     []chartFigure
}{
	{"throughput.svg", "Throughput (higher is better)",
		[]chartFigure{{"echo", "round_trips"}, {"broadcast", "deliveries"}}},
	{"memory.svg", "Server memory (lower is better)",
		[]chartFigure{{"idle", "kib_per_conn"}, {"idle", "rss_peak"}, {"echo", "rss_peak"}, {"broadcast", "rss_peak"}}},
	{"cpu.svg", "Server CPU per message (lower is better)",
		[]chartFigure{{"echo", "cpu_per_msg"}, {"broadcast", "cpu_per_msg"}}},
}

// panels draws fig for every run of its scenario.
func panels(runs []runResult, fig chartFigure) []panel {
	var out []panel
	for _, run := range runs {
		if run.Spec.Scenario != fig.scenario {
			continue
		}
		c, ok := columnByKey(run.Spec, fig.key)
		if !ok {
			continue
		}
		p := panel{title: run.Spec.short() + ": " + c.head}
		drawn := false
		for _, r := range run.Rows {
			v, has := c.num(r)
			b := bar{label: r.Lib, value: v}
			switch {
			case r.Error != "":
				b = bar{label: r.Lib, text: "failed"}
			case !has:
				b = bar{label: r.Lib, text: "n/a"}
			default:
				drawn = true
			}
			p.bars = append(p.bars, b)
		}
		if drawn {
			out = append(out, p)
		}
	}
	return out
}

func columnByKey(s spec, key string) (column, bool) {
	for _, c := range columns(s) {
		if c.key == key && c.num != nil {
			return c, true
		}
	}
	return column{}, false
}

// markdown is results.md: the machine, how to read the tables, the
// charts, then a table per run with its one-line reading.
func markdown(rep report, chartFiles []string) string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "# shoal benchmark, %s\n\n", m.Date.Format("2006-01-02 15:04 UTC"))
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s, %d logical cores |\n", m.CPU, m.Cores)
	fmt.Fprintf(&b, "| kernel | Linux %s |\n", m.Kernel)
	fmt.Fprintf(&b, "| Go | %s |\n", m.Go)
	for _, l := range m.Libraries {
		fmt.Fprintf(&b, "| %s | %s %s |\n", l.Lib, l.Module, l.Version)
	}
	fmt.Fprintf(&b, "| command | `%s` |\n\n", strings.Join(rep.Command, " "))
	b.WriteString(`Every library serves each run from a fresh process of its own on 127.0.0.1,
and the load generator shares the machine. Each table says which load client
produced it (the "client" column):

- **independent**: a goroutine per connection on plain net.Conn, in a process
  of its own. Each echo connection sends its next message when its echo is
  back; each broadcast publisher sends on its own schedule. Messages reach the
  server spread out in time, as from real clients, so each of its wake-ups
  finds few sockets ready. The headline echo and broadcast figures.
- **reactor**: shoal's client role in the runner's process, no goroutine per
  connection. Its shard threads answer many connections per wake-up, so
  messages reach the server in bursts, which flatters every server's CPU per
  message. Idle, churn and compression run on it; echo and broadcast once more
  for comparison.

Server figures are that process's: RSS and threads from /proc, goroutines as it
reports them, CPU (user + system) over the whole run, connects and drain
included. CPU per message divides the whole run's CPU for the reactor client;
for the independent clients, that of the measured phase (echo: the window,
every connection sending; broadcast: publishing and the drain), read from /proc
at its ends by the load process, which also reports its own ("server cores",
"load cores": mean use over the phase; a load near the cores the server left
free may have been the limit). Broadcast latency runs from when a message was
due to be published. "× best other" divides a library's figure by the best
other library's: the highest where higher is better (above 1: ahead), the lowest
where lower is better (below 1: ahead). A **bold** counter should be 0.

`)
	for _, f := range chartFiles {
		fmt.Fprintf(&b, "![%s](%s)\n", strings.TrimSuffix(f, ".svg"), f)
	}
	for _, run := range rep.Runs {
		cols := columns(run.Spec)
		fmt.Fprintf(&b, "\n## %s\n\n%s", run.Title, table(cols, run.Rows))
		if v := versus(cols, run.Rows); v != "" {
			fmt.Fprintf(&b, "\n%s\n", v)
		}
	}
	return b.String()
}

// write saves rep under dir: results.json, the charts that have
// something to draw, and results.md linking them. It returns the
// markdown.
func write(dir string, rep report) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return "", err
	}
	var files []string
	for _, c := range charts {
		var ps []panel
		for _, fig := range c.figures {
			ps = append(ps, panels(rep.Runs, fig)...)
		}
		if len(ps) == 0 {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(svgChart(c.title, rep.Machine.summary(), ps)), 0o644); err != nil {
			return "", err
		}
		files = append(files, c.file)
	}
	md := markdown(rep, files)
	return md, os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}

// runDir is where one invocation's results go: under out, named by the
// UTC time it began.
func runDir(out string, began time.Time) string {
	return filepath.Join(out, began.UTC().Format("20060102T150405Z"))
}
