package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/childproc"
	"github.com/shoalws/shoal/internal/wstest"
)

// The room members of the load test live in a separate process (this
// test binary run again with loadClientEnv set), so that the server
// process holds only its own sockets, well under the machine's limit of
// 20,000 open files per process.

const loadClientEnv = "SHOAL_CHAT_LOAD_CLIENT"

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(loadClientEnv) != "":
		os.Exit(runLoadClient())
	case os.Getenv(roomsClientEnv) != "":
		os.Exit(runRoomsClient())
	}
	os.Exit(m.Run())
}

// BenchmarkRoomFanout puts N members (default 5,000; SHOAL_CHAT_MEMBERS
// to change) in one room, then each iteration one more user says a
// message and the benchmark waits until every member has received it:
// the end-to-end fan-out of a chat message. It reports the latency to
// the last member (p50 and max) and deliveries per second.
func BenchmarkRoomFanout(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("SHOAL_CHAT_MEMBERS")); err == nil && v > 0 {
		n = v
	}
	s, err := start(config{addr: "127.0.0.1:0", data: b.TempDir(), rate: 1e6})
	if err != nil {
		b.Fatal(err)
	}
	defer s.stop(b.Context())
	began := time.Now()
	members := spawnLoadClient(b, s.addr(), n)
	joined := time.Since(began)
	speaker, err := wstest.Dial(s.addr(), "/ws")
	if err != nil {
		b.Fatal(err)
	}
	defer speaker.Close()
	// The speaker reads and drops what it gets (member lists of the big
	// room): a client that never reads is paused by the server.
	speaker.Timeout = time.Hour
	go func() {
		for {
			if _, _, err := speaker.ReadMessage(); err != nil {
				return
			}
		}
	}()
	join, _ := json.Marshal(map[string]string{"type": "join", "room": "big", "name": "speaker"})
	speaker.WriteFrame(codec.OpText, true, join)
	// Let the join's presence update pass before measuring.
	time.Sleep(defaultTiming.presenceDelay + time.Duration(n)*presencePerMember + 500*time.Millisecond)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		say, _ := json.Marshal(map[string]string{"type": "say", "text": "seq " + strconv.Itoa(i)})
		speaker.WriteFrame(codec.OpText, true, say)
		if got := members.Line(60 * time.Second); got != "got "+strconv.Itoa(i) {
			b.Fatalf("member process: %q", got)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(n), "members")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-max")
	b.ReportMetric(float64(b.N)*float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(joined.Seconds(), "s-to-join-all")
	if st := s.srv.Stats(); st.SlowEvictions > 0 {
		b.Fatalf("%d members evicted as slow consumers", st.SlowEvictions)
	}
}

// spawnLoadClient starts the member process and waits until all n
// members have joined.
func spawnLoadClient(b *testing.B, addr string, n int) *childproc.Proc {
	p := childproc.Start(b, loadClientEnv+"="+addr+" "+strconv.Itoa(n))
	if l := p.Line(60 * time.Second); l != "ready" {
		b.Fatalf("member process: %q", l)
	}
	return p
}

// runLoadClient joins n members to room "big", says "ready", then prints
// "got K" each time every member has received the message "seq K". It
// exits when its stdin closes.
func runLoadClient() int {
	f := strings.Fields(os.Getenv(loadClientEnv))
	addr := f[0]
	n, _ := strconv.Atoi(f[1])
	conns := make([]*wstest.Client, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // joins in flight
	for i := range conns {
		c, err := wstest.Dial(addr, "/ws")
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		conns[i] = c
		join, _ := json.Marshal(map[string]string{"type": "join", "room": "big", "name": "m" + strconv.Itoa(i)})
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.WriteFrame(codec.OpText, true, join)
			c.Timeout = 60 * time.Second
			for {
				_, b, err := c.ReadMessage()
				if err != nil || bytes.HasPrefix(b, []byte(`{"type":"joined"`)) {
					return
				}
			}
		}()
	}
	wg.Wait()
	var mu sync.Mutex
	counts := map[string]int{}
	for _, c := range conns {
		go func() {
			c.Conn.SetReadDeadline(time.Time{})
			c.Timeout = time.Hour
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					return
				}
				// Member lists are large and frequent; only chat messages
				// are decoded.
				if !bytes.HasPrefix(b, []byte(`{"type":"message"`)) {
					continue
				}
				var m chatMessage
				json.Unmarshal(b, &m)
				seq, _ := strings.CutPrefix(m.Text, "seq ")
				mu.Lock()
				counts[seq]++
				if counts[seq] == n {
					fmt.Println("got", seq)
					delete(counts, seq)
				}
				mu.Unlock()
			}
		}()
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}
