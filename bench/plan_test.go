package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// The default comparison: every scenario, echo at three sizes, broadcast
// asking 500,000 deliveries/s of 5,000 then 10,000 subscribers.
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
	want := []string{"idle 10000 conns", "echo 64 B", "echo 1 KiB", "echo 16 KiB", "broadcast 5000 subs", "broadcast 10000 subs", "churn"}
	if !slices.Equal(got, want) {
		t.Fatalf("runs %q, want %q", got, want)
	}
	for _, s := range specs {
		if s.Scenario == "broadcast" && (s.Rate*float64(s.Subs) != 500000 || s.Pubs != 10 || s.Size != 64) {
			t.Errorf("broadcast %+v: want 500,000 deliveries/s asked, 10 publishers, 64 B", s)
		}
	}
	if !slices.Equal(o.libs, []string{"shoal", "gorilla", "gws", "nbio", "gobwas"}) {
		t.Errorf("libs %q", o.libs)
	}
	// The budget: all of it in well under 15 minutes, even if every
	// bounded wait runs out.
	typical, worst := estimate(specs, len(o.libs))
	if worst > 13*time.Minute || typical > worst {
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
