package shoal_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// subscribeOnOpen returns a handler that subscribes every connection to
// topic and counts the subscriptions made.
func subscribeOnOpen(srv **shoal.Server, topic string, n *atomic.Int64) shoal.Handler {
	return shoal.HandlerFuncs{Open: func(c *shoal.Conn) {
		if err := (*srv).Subscribe(c, topic); err != nil {
			panic(err)
		}
		n.Add(1)
	}}
}

// TestPublishThousandSubscribers: 1,000 subscribers on several shards,
// held by a separate client process, each receive every one of 1,000
// published messages exactly once, in order.
func TestPublishThousandSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const subs, msgs = 1000, 1000
	var srv *shoal.Server
	var subscribed atomic.Int64
	addr := startRef(t, &srv, shoal.Config{Shards: 2, Handler: subscribeOnOpen(&srv, "news", &subscribed)})
	clients := spawnClients(t, addr, subs, "expect", strconv.Itoa(msgs), "0", "0")
	waitFor(t, func() bool { return subscribed.Load() == subs })
	for i := 0; i < msgs; i++ {
		if err := srv.Publish("news", shoal.Text, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := clients.Line(60 * time.Second); got != "done" {
		t.Fatal(got)
	}
	st := srv.Stats()
	if st.MessagesOut != subs*msgs || st.SlowEvictions+st.SlowDrops != 0 {
		t.Fatalf("stats %+v: want %d deliveries and no slow consumers", st, subs*msgs)
	}
}

// TestPublishNoSubscribersAllocatesNothing: a topic nobody holds costs a
// lookup, including after its last subscriber left.
func TestPublishNoSubscribersAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var srv *shoal.Server
	var subscribed atomic.Int64
	addr := startRef(t, &srv, shoal.Config{Handler: subscribeOnOpen(&srv, "gone", &subscribed)})
	c := dial(t, addr)
	waitFor(t, func() bool { return subscribed.Load() == 1 })
	c.Close()
	waitFor(t, func() bool { return srv.Stats().Conns == 0 })
	payload := []byte("nobody listens")
	for _, topic := range []string{"never", "gone"} {
		if a := testing.AllocsPerRun(1000, func() { srv.Publish(topic, shoal.Text, payload) }); a != 0 {
			t.Fatalf("Publish to %q with no subscribers allocates %v times", topic, a)
		}
	}
}

// TestOrderOfSendsAndPublishes: one goroutine's direct Sends and topic
// messages reach a subscriber in the order they were made.
func TestOrderOfSendsAndPublishes(t *testing.T) {
	opened := make(chan *shoal.Conn, 1)
	var srv *shoal.Server
	addr := startRef(t, &srv, shoal.Config{Shards: 2, MaxOutbound: 16 << 20, Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) {
		srv.Subscribe(c, "t")
		opened <- c
	}}})
	c := dial(t, addr)
	sc := <-opened
	const n = 3000
	for i := 0; i < n; i++ {
		msg := []byte(strconv.Itoa(i))
		var err error
		if i%2 == 0 {
			err = sc.Send(shoal.Text, msg)
		} else {
			err = srv.Publish("t", shoal.Text, msg)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		_, msg, err := c.ReadMessage()
		if err != nil || string(msg) != strconv.Itoa(i) {
			t.Fatalf("message %d: %q %v", i, msg, err)
		}
	}
}

func TestPublishExceptAndBroadcast(t *testing.T) {
	var mu sync.Mutex
	var conns []*shoal.Conn
	var srv *shoal.Server
	addr := startRef(t, &srv, shoal.Config{Shards: 2, Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) {
		srv.Subscribe(c, "room")
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}}})
	clients := []*wstest.Client{dial(t, addr), dial(t, addr), dial(t, addr)}
	unsubscribed := dial(t, addr) // subscribed too; Unsubscribe below
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(conns) == 4 })
	mu.Lock()
	sender, other := conns[0], conns[3]
	mu.Unlock()
	srv.Unsubscribe(other, "room")
	srv.PublishExcept("room", shoal.Text, []byte("from the sender"), sender)
	srv.Broadcast(shoal.Binary, []byte("to everyone"))
	// Which client is the sender depends on accept order: read everyone.
	got := map[string]int{}
	for _, c := range append(clients, unsubscribed) {
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprint(op, " ", string(msg))]++
			if op == codec.OpBinary {
				break
			}
		}
	}
	if got["text from the sender"] != 2 || got["binary to everyone"] != 4 {
		t.Fatalf("deliveries %v: want the room message twice (not the sender, not the unsubscribed) and the broadcast 4 times", got)
	}
}

// TestSubscribeRacesPublish churns subscriptions on many goroutines while
// others publish; the race detector watches, and afterwards a publish
// reaches exactly the connections left subscribed.
func TestSubscribeRacesPublish(t *testing.T) {
	const n = 16
	opened := make(chan *shoal.Conn, n)
	srv, addr := start(t, shoal.Config{Shards: 2, MaxOutbound: 64 << 20, SlowConsumer: shoal.DropSlow,
		Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) { opened <- c }}})
	clients := make([]*wstest.Client, n)
	conns := make([]*shoal.Conn, n)
	for i := range clients {
		clients[i] = dial(t, addr)
		conns[i] = <-opened
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// repeat runs f on its own goroutine until stop closes.
	repeat := func(f func()) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					f()
				}
			}
		})
	}
	for g := 0; g < 4; g++ {
		repeat(func() {
			c, topic := conns[rand.IntN(n)], "t"+strconv.Itoa(rand.IntN(3))
			if rand.IntN(2) == 0 {
				srv.Subscribe(c, topic)
			} else {
				srv.Unsubscribe(c, topic)
			}
		})
		repeat(func() { srv.Publish("t"+strconv.Itoa(rand.IntN(3)), shoal.Text, []byte("noise")) })
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	// Settle: everyone leaves every topic, half join "final".
	for i, c := range conns {
		for k := 0; k < 3; k++ {
			srv.Unsubscribe(c, "t"+strconv.Itoa(k))
		}
		if i%2 == 0 {
			srv.Subscribe(c, "final")
		}
	}
	srv.Publish("final", shoal.Text, []byte("final"))
	srv.Broadcast(shoal.Binary, []byte("end"))
	for i, c := range clients {
		c.Timeout = 20 * time.Second
		sawFinal := false
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if op == codec.OpBinary {
				break
			}
			if string(msg) == "final" {
				sawFinal = true
			}
		}
		if sawFinal != (i%2 == 0) {
			t.Fatalf("client %d: saw final = %v", i, sawFinal)
		}
	}
}

// TestSlowConsumers: 10% of 100 subscribers never read. The others get
// every message; the slow ones are evicted (or skipped, with DropSlow);
// the server's memory stays bounded by the outbound limits.
func TestSlowConsumers(t *testing.T) {
	for _, policy := range []shoal.SlowPolicy{shoal.EvictSlow, shoal.DropSlow} {
		t.Run(fmt.Sprint("policy=", policy), func(t *testing.T) {
			const subs, msgs, size = 100, 2000, 4 << 10
			var srv *shoal.Server
			var subscribed atomic.Int64
			var hooked atomic.Int64
			addr := startRef(t, &srv, shoal.Config{Shards: 2, MaxOutbound: 256 << 10, SlowConsumer: policy,
				OnSlowConsumer: func(c *shoal.Conn, evicted bool) { hooked.Add(1) },
				Handler:        subscribeOnOpen(&srv, "feed", &subscribed)})
			const round = 32 // 128 KiB a connection: under the 256 KiB limit
			clients := spawnClients(t, addr, subs, "expect", strconv.Itoa(msgs), "10", strconv.Itoa(round))
			waitFor(t, func() bool { return subscribed.Load() == subs })
			rssBefore := rss(t)
			pad := " " + strings.Repeat("x", size)
			// Publish in rounds smaller than the limit, each after every
			// reader has caught up, so that only those that never read fall
			// behind. A publisher that outruns every reader makes them all
			// slow: that is the policy working, not what this test is about.
			for i := 0; i < msgs; i++ {
				if i > 0 && i%round == 0 {
					want := "at " + strconv.Itoa(i)
					for got := clients.Line(30 * time.Second); got != want; got = clients.Line(30 * time.Second) {
						if !strings.HasPrefix(got, "at ") {
							t.Fatal(got)
						}
					}
				}
				// The clients check the number before the space; the
				// padding makes the slow ones' queues fill.
				if err := srv.Publish("feed", shoal.Text, []byte(strconv.Itoa(i)+pad)); err != nil {
					t.Fatal(err)
				}
			}
			if got := clients.Line(60 * time.Second); got != "done" {
				t.Fatal(got)
			}
			st := srv.Stats()
			grew := rss(t) - rssBefore
			t.Logf("%+v, RSS grew %d KiB", st, grew>>10)
			switch policy {
			case shoal.EvictSlow:
				if st.SlowEvictions == 0 || st.SlowEvictions > subs/10 {
					t.Fatalf("%d evictions, want 1..%d", st.SlowEvictions, subs/10)
				}
			case shoal.DropSlow:
				if st.SlowDrops == 0 || st.SlowEvictions != 0 {
					t.Fatalf("drops %d evictions %d", st.SlowDrops, st.SlowEvictions)
				}
			}
			if hooked.Load() == 0 {
				t.Fatal("OnSlowConsumer never called")
			}
			// 10 slow queues of at most 256 KiB plus one message each.
			if grew > 64<<20 {
				t.Fatalf("RSS grew by %d MiB", grew>>20)
			}
		})
	}
}

// rss returns the process's resident set in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
