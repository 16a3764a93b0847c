package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// spec is one scenario run with its settings; each library runs it in a
// fresh peer process.
type spec struct {
	Scenario  string        `json:"scenario"` // idle, echo, broadcast or churn
	Conns     int           `json:"conns,omitempty"`
	Size      int           `json:"size,omitempty"`
	Inflight  int           `json:"inflight,omitempty"`
	Subs      int           `json:"subs,omitempty"`
	Pubs      int           `json:"pubs,omitempty"`
	Rate      float64       `json:"rate,omitempty"` // broadcast: messages/s; churn: connects/s; echo: round trips/s asked, 0: unpaced
	Duration  time.Duration `json:"-"`
	DurationS float64       `json:"duration_s,omitempty"` // Duration, for the JSON
	// Mode: compression (chat JSON, permessage-deflate on both sides)
	// and, for idle, a message each way before idling.
	Mode load.Mode `json:"mode"`
	// TLS: over wss://, each library with its own TLS (-tls).
	TLS bool `json:"tls,omitempty"`
	// Client is the load client: load.ClientIndependent or
	// load.ClientReactor ("" in results from before there were two).
	Client string `json:"client,omitempty"`
	// Drain bounds the wait for an independent broadcast's last
	// deliveries (the reactor client's bound is its own, 30 s).
	Drain  time.Duration `json:"-"`
	DrainS float64       `json:"drain_s,omitempty"` // Drain, for the JSON
}

// independent reports whether s runs on the independent clients.
func (s spec) independent() bool { return s.Client == load.ClientIndependent }

// clientLabel names s's client in titles: echo and broadcast have two.
func (s spec) clientLabel() string {
	switch {
	case s.Scenario != "echo" && s.Scenario != "broadcast":
		return ""
	case s.independent():
		return ", independent clients"
	}
	return ", reactor client"
}

// modeLabel says how a compression run talks, for titles.
func (s spec) modeLabel() string {
	switch m := s.Mode; {
	case m.Compress && m.Takeover:
		return "compressed, context takeover, "
	case m.Compress:
		return "compressed, "
	case m.Exchange:
		return "plain, "
	}
	return ""
}

// title names the run in headings and charts.
func (s spec) title() string {
	if s.TLS {
		return "wss " + s.plainTitle()
	}
	return s.plainTitle()
}

func (s spec) plainTitle() string {
	size := bytesLabel(s.Size)
	if s.Mode.Compress {
		size = "chat JSON of 200-2,000 B"
	}
	switch s.Scenario {
	case "idle":
		if s.Mode.Exchange {
			return fmt.Sprintf("idle: %d connections, %sa message each way first, memory after a GC", s.Conns, s.modeLabel())
		}
		return fmt.Sprintf("idle: %d connections", s.Conns)
	case "echo":
		paced := ""
		if s.Rate > 0 {
			paced = fmt.Sprintf(", paced at %s round trips/s", num(s.Rate))
		}
		return fmt.Sprintf("echo: %d connections, %s%s, %d in flight%s, %v%s", s.Conns, s.modeLabel(), size, s.Inflight, paced, s.Duration, s.clientLabel())
	case "broadcast":
		return fmt.Sprintf("broadcast: %d subscribers, %d publishers, %s msg/s (%s deliveries/s asked), %s%s, %v publishing%s",
			s.Subs, s.Pubs, num(s.Rate), num(s.Rate*float64(s.Subs)), s.modeLabel(), size, s.Duration, s.clientLabel())
	case "churn":
		return fmt.Sprintf("churn: %d steady echo connections, %s connects/s, %v", s.Conns, num(s.Rate), s.Duration)
	}
	return s.Scenario
}

// short names the run in a chart panel's title.
func (s spec) short() string {
	if s.TLS {
		return "wss " + s.plainShort()
	}
	return s.plainShort()
}

func (s spec) plainShort() string {
	client := ""
	if s.independent() {
		client = ", independent"
	} else if s.Scenario == "echo" || s.Scenario == "broadcast" {
		client = ", reactor"
	}
	return s.scenarioShort() + client
}

func (s spec) scenarioShort() string {
	switch {
	case s.Scenario == "idle" && s.Mode.Exchange:
		return fmt.Sprintf("idle %d conns, %s", s.Conns, strings.TrimSuffix(s.modeLabel(), ", "))
	case s.Scenario == "idle":
		return fmt.Sprintf("idle %d conns", s.Conns)
	case s.Scenario == "echo" && s.Mode.Compress:
		return "echo chat JSON, compressed"
	case s.Scenario == "echo" && s.Rate > 0:
		return fmt.Sprintf("echo %s, %s/s paced", bytesLabel(s.Size), compact(s.Rate))
	case s.Scenario == "echo":
		return "echo " + bytesLabel(s.Size)
	case s.Scenario == "broadcast" && s.Mode.Compress:
		return fmt.Sprintf("broadcast %d subs, compressed", s.Subs)
	case s.Scenario == "broadcast":
		return fmt.Sprintf("broadcast %d subs, %s/s", s.Subs, compact(s.Rate*float64(s.Subs)))
	}
	return s.Scenario
}

// scenarios is every scenario, in the order "all" runs them. compress
// (permessage-deflate: idle memory after a message each way, plain and
// compressed; echo and broadcast of chat JSON, compressed) runs on its
// own: "-scenario compress".
var scenarios = []string{"idle", "echo", "broadcast", "churn"}

// settings are the resolved command line: each scenario's parameters.
type settings struct {
	idleConns    int
	echoConns    int
	echoSizes    []int
	inflight     int
	echoDuration time.Duration
	// echoRates: round trips/s asked, each a paced echo run at the
	// first size on the independent clients (-echo-rate).
	echoRates  []float64
	subs       []int
	pubs       int
	bcastSizes []int
	rate       float64 // 0: deliveries / subs
	deliveries float64 // per second asked of all receivers
	// ceiling: more deliveries/s asked, each a broadcast run at the
	// first subscriber count (-ceiling).
	ceiling       []float64
	bcastDuration time.Duration
	drain         time.Duration // independent broadcast's drain bound
	client        string        // -client: auto, independent, reactor or both
	churnConns    int
	churnRate     float64
	churnDuration time.Duration
}

// The -client settings: which load client runs echo and broadcast.
const (
	clientAuto        = "auto" // independent, and reactor again for the first runs
	clientBoth        = "both"
	clientIndependent = load.ClientIndependent
	clientReactor     = load.ClientReactor
)

// clientsFor is the clients of an echo or broadcast run: the first of
// its scenario (echo at the first size, broadcast at the first size,
// subscriber count and rate) or another.
func (st settings) clientsFor(first bool) []string {
	switch st.client {
	case clientIndependent, clientReactor:
		return []string{st.client}
	case clientBoth:
		return []string{clientIndependent, clientReactor}
	}
	if first {
		return []string{clientIndependent, clientReactor}
	}
	return []string{clientIndependent}
}

// plan lists the runs of the named scenarios ("all": every one). idle,
// churn and compress run on the reactor client; echo and broadcast on
// the clients -client names.
func plan(scenario string, st settings) ([]spec, error) {
	names := []string{scenario}
	if scenario == "all" {
		names = scenarios
	}
	var out []spec
	add := func(base spec, first bool) {
		for _, c := range st.clientsFor(first) {
			s := base
			s.Client = c
			if c == clientIndependent && s.Scenario == "broadcast" {
				s.Drain = st.drain
			}
			out = append(out, s)
		}
	}
	for _, name := range names {
		switch name {
		case "idle":
			out = append(out, spec{Scenario: name, Conns: st.idleConns, Client: clientReactor})
		case "echo":
			for i, size := range st.echoSizes {
				add(spec{Scenario: name, Conns: st.echoConns, Size: size,
					Inflight: st.inflight, Duration: st.echoDuration}, i == 0)
			}
			// Only the independent clients pace.
			if st.client != clientReactor {
				for _, r := range st.echoRates {
					out = append(out, spec{Scenario: name, Conns: st.echoConns, Size: st.echoSizes[0], Inflight: 1,
						Rate: r, Duration: st.echoDuration, Client: clientIndependent})
				}
			}
		case "broadcast":
			planBroadcast(st, add)
		case "churn":
			out = append(out, spec{Scenario: name, Conns: st.churnConns, Rate: st.churnRate, Duration: st.churnDuration,
				Client: clientReactor})
		case "compress":
			// The independent client has no permessage-deflate.
			for _, m := range []load.Mode{{Exchange: true}, {Exchange: true, Compress: true}, {Exchange: true, Compress: true, Takeover: true}} {
				out = append(out, spec{Scenario: "idle", Conns: st.idleConns, Mode: m, Client: clientReactor})
			}
			compressed := load.Mode{Compress: true}
			out = append(out, spec{Scenario: "echo", Conns: st.echoConns, Size: minSize, Inflight: st.inflight,
				Duration: st.echoDuration, Mode: compressed, Client: clientReactor})
			subs := st.subs[0]
			rate := st.rate
			if rate == 0 {
				rate = st.deliveries / float64(subs)
			}
			out = append(out, spec{Scenario: "broadcast", Subs: subs, Pubs: st.pubs, Rate: rate, Size: minSize,
				Duration: st.bcastDuration, Mode: compressed, Client: clientReactor})
		default:
			return nil, fmt.Errorf("unknown scenario %q (want idle, echo, broadcast, churn, compress or all)", name)
		}
	}
	for i := range out {
		out[i].DurationS = out[i].Duration.Seconds()
		out[i].DrainS = out[i].Drain.Seconds()
	}
	return out, nil
}

// planBroadcast adds the broadcast runs: each size at each subscriber
// count at the asked rate, then the ceiling rates at the first
// subscriber count.
func planBroadcast(st settings, add func(s spec, first bool)) {
	for i, size := range st.bcastSizes {
		for j, subs := range st.subs {
			rate := st.rate
			if rate == 0 {
				rate = st.deliveries / float64(subs)
			}
			add(spec{Scenario: "broadcast", Subs: subs, Pubs: st.pubs, Rate: rate,
				Size: size, Duration: st.bcastDuration}, i == 0 && j == 0)
		}
		for _, d := range st.ceiling {
			add(spec{Scenario: "broadcast", Subs: st.subs[0], Pubs: st.pubs, Rate: d / float64(st.subs[0]),
				Size: size, Duration: st.bcastDuration}, false)
		}
	}
}

// overhead is the time a run takes besides its load window: typical
// is what runs of each library took on a 2-core machine (starting the
// peer, connecting at about 9,000 handshakes/s, closing; for broadcast,
// the drain, which was up to three windows long for the libraries that
// fall behind); worst adds every bounded wait of package load and of
// this runner running out.
type overhead struct{ typical, worst time.Duration }

func (s spec) overhead() overhead {
	const handshakes = 8000 // per second: a little under the slowest seen
	dial := time.Duration(float64(max(s.Conns, s.Subs)) / handshakes * float64(time.Second))
	base := time.Second/2 + dial
	if s.independent() {
		base += independentStart
	}
	switch s.Scenario {
	case "idle":
		return overhead{base + 2*time.Second, base + 2*time.Second} // 2 s settled
	case "echo":
		return overhead{base, base + 5*time.Second} // load's echo drain
	case "broadcast":
		bound := 30 * time.Second // the reactor client's
		if s.independent() {
			bound = s.Drain
		}
		drain := min(s.Duration*5/2, bound)
		return overhead{base + time.Second + drain, base + time.Second + bound} // warm-up, drain
	case "churn":
		return overhead{base, base + 5*time.Second + settleTimeout} // load's close wait, our settle
	}
	return overhead{}
}

// independentStart is about what an independent run adds: the load
// process starting, and for echo the ramp before its window.
const independentStart = 200 * time.Millisecond

// estimate is how long runs take for n libraries: typically and at worst.
func estimate(runs []spec, n int) (typical, worst time.Duration) {
	for _, s := range runs {
		o := s.overhead()
		typical += time.Duration(n) * (s.Duration + o.typical)
		worst += time.Duration(n) * (s.Duration + o.worst)
	}
	return typical, worst
}
