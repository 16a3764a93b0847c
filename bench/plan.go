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
	Rate      float64       `json:"rate,omitempty"` // broadcast: messages/s; churn: connects/s
	Duration  time.Duration `json:"-"`
	DurationS float64       `json:"duration_s,omitempty"` // Duration, for the JSON
	// Mode: compression (chat JSON, permessage-deflate on both sides)
	// and, for idle, a message each way before idling.
	Mode load.Mode `json:"mode"`
	// TLS: over wss://, each library with its own TLS (-tls).
	TLS bool `json:"tls,omitempty"`
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
		return fmt.Sprintf("echo: %d connections, %s%s, %d in flight, %v", s.Conns, s.modeLabel(), size, s.Inflight, s.Duration)
	case "broadcast":
		return fmt.Sprintf("broadcast: %d subscribers, %d publishers, %s msg/s (%s deliveries/s asked), %s%s, %v publishing",
			s.Subs, s.Pubs, num(s.Rate), num(s.Rate*float64(s.Subs)), s.modeLabel(), size, s.Duration)
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
	switch {
	case s.Scenario == "idle" && s.Mode.Exchange:
		return fmt.Sprintf("idle %d conns, %s", s.Conns, strings.TrimSuffix(s.modeLabel(), ", "))
	case s.Scenario == "idle":
		return fmt.Sprintf("idle %d conns", s.Conns)
	case s.Scenario == "echo" && s.Mode.Compress:
		return "echo chat JSON, compressed"
	case s.Scenario == "echo":
		return "echo " + bytesLabel(s.Size)
	case s.Scenario == "broadcast" && s.Mode.Compress:
		return fmt.Sprintf("broadcast %d subs, compressed", s.Subs)
	case s.Scenario == "broadcast":
		return fmt.Sprintf("broadcast %d subs", s.Subs)
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
	idleConns     int
	echoConns     int
	echoSizes     []int
	inflight      int
	echoDuration  time.Duration
	subs          []int
	pubs          int
	bcastSizes    []int
	rate          float64 // 0: deliveries / subs
	deliveries    float64 // per second asked of all receivers
	bcastDuration time.Duration
	churnConns    int
	churnRate     float64
	churnDuration time.Duration
}

// plan lists the runs of the named scenarios ("all": every one).
func plan(scenario string, st settings) ([]spec, error) {
	names := []string{scenario}
	if scenario == "all" {
		names = scenarios
	}
	var out []spec
	for _, name := range names {
		switch name {
		case "idle":
			out = append(out, spec{Scenario: name, Conns: st.idleConns})
		case "echo":
			for _, size := range st.echoSizes {
				out = append(out, spec{Scenario: name, Conns: st.echoConns, Size: size,
					Inflight: st.inflight, Duration: st.echoDuration})
			}
		case "broadcast":
			for _, size := range st.bcastSizes {
				for _, subs := range st.subs {
					rate := st.rate
					if rate == 0 {
						rate = st.deliveries / float64(subs)
					}
					out = append(out, spec{Scenario: name, Subs: subs, Pubs: st.pubs, Rate: rate,
						Size: size, Duration: st.bcastDuration})
				}
			}
		case "churn":
			out = append(out, spec{Scenario: name, Conns: st.churnConns, Rate: st.churnRate, Duration: st.churnDuration})
		case "compress":
			for _, m := range []load.Mode{{Exchange: true}, {Exchange: true, Compress: true}, {Exchange: true, Compress: true, Takeover: true}} {
				out = append(out, spec{Scenario: "idle", Conns: st.idleConns, Mode: m})
			}
			compressed := load.Mode{Compress: true}
			out = append(out, spec{Scenario: "echo", Conns: st.echoConns, Size: minSize, Inflight: st.inflight,
				Duration: st.echoDuration, Mode: compressed})
			subs := st.subs[0]
			rate := st.rate
			if rate == 0 {
				rate = st.deliveries / float64(subs)
			}
			out = append(out, spec{Scenario: "broadcast", Subs: subs, Pubs: st.pubs, Rate: rate, Size: minSize,
				Duration: st.bcastDuration, Mode: compressed})
		default:
			return nil, fmt.Errorf("unknown scenario %q (want idle, echo, broadcast, churn, compress or all)", name)
		}
	}
	for i := range out {
		out[i].DurationS = out[i].Duration.Seconds()
	}
	return out, nil
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
	switch s.Scenario {
	case "idle":
		return overhead{base + 2*time.Second, base + 2*time.Second} // 2 s settled
	case "echo":
		return overhead{base, base + 5*time.Second} // load's echo drain
	case "broadcast":
		drain := min(s.Duration*5/2, 30*time.Second)
		return overhead{base + time.Second + drain, base + time.Second + 30*time.Second} // warm-up, drain
	case "churn":
		return overhead{base, base + 5*time.Second + settleTimeout} // load's close wait, our settle
	}
	return overhead{}
}

// estimate is how long runs take for n libraries: typically and at worst.
func estimate(runs []spec, n int) (typical, worst time.Duration) {
	for _, s := range runs {
		o := s.overhead()
		typical += time.Duration(n) * (s.Duration + o.typical)
		worst += time.Duration(n) * (s.Duration + o.worst)
	}
	return typical, worst
}
