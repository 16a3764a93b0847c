package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal/bench/load"
)

// buildTestPeers builds the peer command once for the tests that run it.
func buildTestPeers(t *testing.T) peerBinaries {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the peer command")
	}
	bins, err := buildPeers(t.TempDir(), []string{"shoal", "gorilla"}, true)
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

// The stats protocol against a real peer process: gorilla runs a
// goroutine per connection, so the count it reports must follow the
// connections the test opens and closes.
func TestPeerStats(t *testing.T) {
	bins := buildTestPeers(t)
	p, err := startPeer(bins.forLib("gorilla"), "gorilla", false, load.Mode{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	before, err := p.sample()
	if err != nil {
		t.Fatal(err)
	}
	if before.Goroutines < 1 || before.FDs < 4 || before.RSS <= 0 || before.Threads < 1 {
		t.Fatalf("sample: %+v", before)
	}
	const n = 20
	var conns []*websocket.Conn
	for range n {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The server may register a connection a little after its
	// handshake answer: poll.
	open := waitSample(t, p, func(s procSample) bool {
		return s.Goroutines >= before.Goroutines+n && s.FDs >= before.FDs+n
	})
	for _, c := range conns {
		c.Close()
	}
	waitSample(t, p, func(s procSample) bool {
		return s.Goroutines <= before.Goroutines && s.FDs <= before.FDs
	})
	t.Logf("before %+v, with %d conns %+v", before, n, open)
}

func waitSample(t *testing.T, p *peer, cond func(procSample) bool) procSample {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := p.sample()
		if err != nil {
			t.Fatal(err)
		}
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("last sample %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A peer that has exited answers at once with an error, not a hang.
func TestPeerStatsAfterExit(t *testing.T) {
	bins := buildTestPeers(t)
	p, err := startPeer(bins.forLib("shoal"), "shoal", true, load.Mode{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.goroutines(); err != nil {
		t.Fatal(err)
	}
	p.stop()
	start := time.Now()
	if _, err := p.goroutines(); err == nil {
		t.Error("no error from an exited peer")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

// Without a process: a late answer to an earlier query is skipped,
// and a garbled one is an error.
func TestPeerStatsMatchesIDs(t *testing.T) {
	for _, c := range []struct {
		name    string
		answers func(id string) []string
		want    int
		wantErr bool
	}{
		{"in order", func(id string) []string { return []string{"stats id=" + id + " goroutines=12"} }, 12, false},
		{"late answer first", func(id string) []string {
			return []string{"stats id=0 goroutines=99", "stats id=" + id + " goroutines=12"}
		}, 12, false},
		{"not a number", func(id string) []string { return []string{"stats id=" + id + " goroutines=x"} }, 0, true},
		{"error line", func(string) []string { return []string{`error unknown command "stats"`} }, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, w := io.Pipe()
			p := &peer{lib: "fake", stdin: w, done: make(chan struct{}), stats: make(chan string, 8)}
			go func() {
				line, _ := bufio.NewReader(in).ReadString('\n')
				id := strings.TrimPrefix(strings.TrimSpace(line), "stats ")
				for _, a := range c.answers(id) {
					p.stats <- a
				}
			}()
			got, err := p.goroutines()
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestParseStats(t *testing.T) {
	for _, c := range []struct {
		line string
		want string // the map, printed; "" for an error
	}{
		{"stats goroutines=7", "map[goroutines:7]"},
		{"stats id=3 goroutines=7", "map[goroutines:7 id:3]"},
		{"stats id=3 goroutines", ""},
		{"ready 127.0.0.1:1", ""},
	} {
		m, err := parseStats(c.line)
		got := ""
		if err == nil {
			got = fmt.Sprint(m)
		}
		if got != c.want {
			t.Errorf("parseStats(%q) = %q, %v; want %q", c.line, got, err, c.want)
		}
	}
}
