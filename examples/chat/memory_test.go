package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/childproc"
	"github.com/shoalws/shoal/internal/wstest"
)

const roomsClientEnv = "SHOAL_CHAT_ROOMS_CLIENT"

// TestMemoryBoundedByRoomLimits is issue 10's point 6: clients joining
// random rooms and talking made the chat hold rooms and histories
// forever (RSS 31 → 84 → 120 MiB over two runs of 2,000 clients, never
// released). Here a separate process runs 600 clients, each joining one
// of 5,000 rooms and saying four 1,000-character messages, twice over.
// The node's limits are cut to 200 rooms and 4 KiB of history per room:
// it never holds more rooms than that (the rest are refused with an
// error), a room's history never more bytes, and when the clients leave
// every room and its history is gone and the live heap is back where it
// started, but for the store's block cache.
func TestMemoryBoundedByRoomLimits(t *testing.T) {
	lim := limits{rooms: 200, roomBytes: 4 << 10}
	s := startWith(t, config{addr: "127.0.0.1:0", rate: 1e9, limits: lim})
	base := liveHeap()
	// 4 messages of 1,000 characters: 4.8 KiB, more than a room keeps.
	const clients, choices, says = 600, 5000, 4
	for round := range 3 {
		var peakRooms, peakBytes atomic.Int64
		done := make(chan struct{})
		var sampling sync.WaitGroup
		sampling.Go(func() {
			for {
				st := s.app.stats()
				peakRooms.Store(max(peakRooms.Load(), int64(st.rooms)))
				peakBytes.Store(max(peakBytes.Load(), int64(st.historyBytes)))
				select {
				case <-done:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		})
		p := childproc.Start(t, fmt.Sprintf("%s=%s %d %d %d %d", roomsClientEnv, s.addr(), clients, choices, says, round))
		line := p.Line(3 * time.Minute)
		var joined, refused int
		if _, err := fmt.Sscanf(line, "joined %d refused %d", &joined, &refused); err != nil {
			t.Fatalf("client process: %q", line)
		}
		peakHeap := liveHeap()
		st := s.app.stats()
		p.Stop() // the clients disconnect
		eventually(t, "every room to close", func() bool { st := s.app.stats(); return st.rooms == 0 && st.historyBytes == 0 })
		close(done)
		sampling.Wait()
		after := liveHeap()
		t.Logf("round %d: %d clients joined, %d refused; peak %d rooms, %d KiB of history (%d messages kept); live heap %.1f MiB at the peak, %.1f MiB after (%.1f at the start)",
			round, joined, refused, peakRooms.Load(), peakBytes.Load()>>10, st.historyMessages, mib(peakHeap), mib(after), mib(base))
		switch {
		case peakRooms.Load() > int64(lim.rooms):
			t.Fatalf("%d rooms open, the limit is %d", peakRooms.Load(), lim.rooms)
		case peakBytes.Load() > int64(lim.rooms*lim.roomBytes):
			t.Fatalf("%d bytes of history, more than %d rooms × %d", peakBytes.Load(), lim.rooms, lim.roomBytes)
		case refused == 0 || joined == 0:
			t.Fatalf("joined %d, refused %d: the room limit was not reached", joined, refused)
		case after > base+storeCache+4<<20:
			t.Fatalf("live heap %.1f MiB after everyone left, %.1f MiB before: not given back", mib(after), mib(base))
		}
	}
}

// storeCache is what the embedded JetStream file store may still hold
// when the clients have left: the block being written and the block
// before it (8 MiB each), until 10 s after their last use.
const storeCache = 2 * 8 << 20

// liveHeap is the heap's live bytes after full collections (two: what
// sync.Pools held before the first is freed by the second).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// runRoomsClient is the client process of the memory test: n users, each
// joining a random room of choices and, if let in, saying long messages
// and waiting for them to come back. It prints "joined J
// refused R", then holds the connections until its stdin closes.
func runRoomsClient() int {
	f := strings.Fields(os.Getenv(roomsClientEnv))
	addr := f[0]
	n, _ := strconv.Atoi(f[1])
	choices, _ := strconv.Atoi(f[2])
	says, _ := strconv.Atoi(f[3])
	seed, _ := strconv.ParseUint(f[4], 10, 64)
	rng := rand.New(rand.NewPCG(seed, 16))
	var joined, refused atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32) // users joining at once
	conns := make([]*wstest.Client, n)
	for i := range conns {
		c, err := wstest.Dial(addr, "/ws")
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		c.Timeout = time.Minute
		conns[i] = c
		name, room := "u"+strconv.Itoa(i), "r"+strconv.Itoa(rng.IntN(choices))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := talk(c, name, room, says); err == errRefused {
				refused.Add(1)
			} else if err == nil {
				joined.Add(1)
			} else {
				fmt.Fprintln(os.Stderr, "client:", err)
			}
		})
	}
	wg.Wait()
	fmt.Printf("joined %d refused %d\n", joined.Load(), refused.Load())
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

var errRefused = fmt.Errorf("refused")

func talk(c *wstest.Client, name, room string, says int) error {
	send := func(v any) error {
		b, _ := json.Marshal(v)
		return c.WriteFrame(codec.OpText, true, b)
	}
	send(map[string]string{"type": "join", "room": room, "name": name})
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte(`{"type":"error"`)) {
			return errRefused
		}
		if bytes.HasPrefix(b, []byte(`{"type":"joined"`)) {
			break
		}
	}
	for i := range says {
		send(map[string]string{"type": "say", "text": fmt.Sprintf("%s%04d", strings.Repeat("x", 996), i)})
	}
	for back := 0; back < says; {
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte(`{"type":"error"`)) {
			return fmt.Errorf("%s", b)
		}
		var m chatMessage
		if json.Unmarshal(b, &m) == nil && m.Type == "message" && m.From == name {
			back++
		}
	}
	return nil
}
