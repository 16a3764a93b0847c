package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// The default comparison: every scenario; echo at three sizes and
// broadcast asking 500,000 deliveries/s of 5,000 then 10,000
// subscribers, then 1,000,000 and 2,500,000 of 5,000, on independent
// clients, and the first echo and broadcast again on the reactor
// client.
func TestPlanDefault(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := plan(o.scenario, o.st)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.short())
	}
	want := []string{"idle 10000 conns",
		"echo 64 B, independent", "echo 64 B, reactor", "echo 1 KiB, independent", "echo 16 KiB, independent",
		"echo 64 B, 20k/s paced, independent",
		"broadcast 5000 subs, 500k/s, independent", "broadcast 5000 subs, 500k/s, reactor",
		"broadcast 10000 subs, 500k/s, independent",
		"broadcast 5000 subs, 1M/s, independent", "broadcast 5000 subs, 2.5M/s, independent",
		"churn"}
	if !slices.Equal(got, want) {
		t.Fatalf("runs %q, want %q", got, want)
	}
	for _, s := range specs {
		if s.Scenario == "broadcast" && (s.Pubs != 10 || s.Size != 64) {
			t.Errorf("broadcast %+v: want 10 publishers, 64 B", s)
		}
		if s.independent() && s.Scenario == "broadcast" && s.Drain != 10*time.Second {
			t.Errorf("independent broadcast %+v: want a 10 s drain bound", s)
		}
		if (s.Scenario == "idle" || s.Scenario == "churn") && s.independent() {
			t.Errorf("%s on independent clients", s.Scenario)
		}
	}
	if !slices.Equal(o.libs, []string{"shoal", "gorilla", "gws", "nbio", "gobwas"}) {
		t.Errorf("libs %q", o.libs)
	}
	// The budget: about 12 minutes, and under 17 even if every bounded
	// wait runs out.
	typical, worst := estimate(specs, len(o.libs))
	if typical > 12*time.Minute || worst > 17*time.Minute || typical > worst {
		t.Errorf("estimate: typical %v, worst %v", typical, worst)
	}
}

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args  string
		check func(options) bool
	}{
		{"-scenario echo -size 64,4096 -conns 50 -duration 2s", func(o options) bool {
			return o.scenario == "echo" && slices.Equal(o.st.echoSizes, []int{64, 4096}) &&
				o.st.echoConns == 50 && o.st.echoDuration == 2*time.Second
		}},
		{"-scenario broadcast -subs 100 -pubs 5 -rate 30", func(o options) bool {
			return slices.Equal(o.st.subs, []int{100}) && o.st.pubs == 5 && o.st.rate == 30
		}},
		{"-client reactor -ceiling none -drain 3s", func(o options) bool {
			return o.st.client == "reactor" && o.st.ceiling == nil && o.st.drain == 3*time.Second
		}},
		{"-scenario echo -echo-rate 5000,30000 -client both", func(o options) bool {
			specs, err := plan(o.scenario, o.st)
			// Three sizes on both clients, then the paced runs, on the
			// independent clients alone.
			return err == nil && len(specs) == 8 && specs[0].Rate == 0 &&
				specs[6].Rate == 5000 && specs[7].Rate == 30000 && specs[7].independent() && specs[7].Size == 64 &&
				strings.Contains(specs[7].title(), "paced at 30,000 round trips/s")
		}},
		{"-scenario echo -echo-rate 5000 -client reactor", func(o options) bool {
			specs, err := plan(o.scenario, o.st)
			return err == nil && len(specs) == 3 && !slices.ContainsFunc(specs, spec.independent)
		}},
		{"-echo-rate none -inflight 4", func(o options) bool { return o.st.echoRates == nil && o.st.inflight == 4 }},
		{"-ceiling 1e6,3000000", func(o options) bool {
			return slices.Equal(o.st.ceiling, []float64{1e6, 3e6}) && o.st.client == "auto"
		}},
		{"-quick", func(o options) bool {
			return o.quick && o.st.idleConns == 1000 && o.st.echoDuration == time.Second
		}},
		// Flags given win over -quick's settings.
		{"-quick -conns 7 -libs shoal,,gws,", func(o options) bool {
			return o.st.idleConns == 7 && o.st.churnConns == 7 && slices.Equal(o.libs, []string{"shoal", "gws"})
		}},
	} {
		o, err := parseFlags(strings.Fields(c.args), io.Discard)
		if err != nil {
			t.Errorf("%s: %v", c.args, err)
			continue
		}
		if !c.check(o) {
			t.Errorf("%s: %+v", c.args, o)
		}
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, args := range []string{
		"-libs shoal,ws",
		"-libs ,",
		"-size 64,x",
		"-size 0",
		"-size 8",
		"-subs 5 -pubs 10",
		"-duration -1s",
		"-inflight 0",
		"-client gorilla",
		"-ceiling 0",
		"-ceiling x",
		"-drain 0s",
		"-echo-rate -1",
		"-inflight 2", // the paced run keeps one in flight
		"-echo-rate 100 -inflight 2",
		"extra",
	} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%s: accepted", args)
		}
	}
	if _, err := plan("bogus", defaults()); err == nil {
		t.Error("plan accepted an unknown scenario")
	}
}

// -client chooses the clients of echo and broadcast; idle, churn and
// compress stay on the reactor client whatever it says.
func TestPlanClients(t *testing.T) {
	for _, c := range []struct {
		client string
		want   []string // clients of the echo runs at 64 B, then 1 KiB
	}{
		{"auto", []string{"independent", "reactor", "independent"}},
		{"independent", []string{"independent", "independent"}},
		{"reactor", []string{"reactor", "reactor"}},
		{"both", []string{"independent", "reactor", "independent", "reactor"}},
	} {
		st := defaults()
		st.client = c.client
		st.echoSizes = []int{64, 1024}
		st.echoRates = nil // the paced runs: TestParseFlags
		specs, err := plan("all", st)
		if err != nil {
			t.Fatal(err)
		}
		var echo []string
		for _, s := range specs {
			switch s.Scenario {
			case "echo":
				echo = append(echo, s.Client)
			case "idle", "churn":
				if s.Client != "reactor" {
					t.Errorf("-client %s: %s on %q", c.client, s.Scenario, s.Client)
				}
			}
		}
		if !slices.Equal(echo, c.want) {
			t.Errorf("-client %s: echo on %q, want %q", c.client, echo, c.want)
		}
		compress, err := plan("compress", st)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range compress {
			if s.independent() {
				t.Errorf("-client %s: compress run %s on independent clients", c.client, s.title())
			}
		}
	}
}
