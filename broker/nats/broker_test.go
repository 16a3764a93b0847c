package nats_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/broker/nats"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// startNATS runs a real nats-server in this process on a loopback port
// (port 0 on the first start, the same port on a restart).
func startNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	// Registered before the nodes' cleanups, so it runs after them: the
	// nodes close while NATS is still there.
	t.Cleanup(ns.Shutdown)
	return ns
}

// node is one shoal server with a NATS broker; every connection joins
// topic "room" when it opens.
type node struct {
	srv    *shoal.Server
	broker *nats.Broker
	addr   string
	joined atomic.Int64
}

func startNode(t *testing.T, url string) *node {
	t.Helper()
	b, err := nats.New(nats.Options{URL: url, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{broker: b}
	n.srv, err = shoal.New(shoal.Config{Addr: "127.0.0.1:0", Shards: 2, Broker: b,
		Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) {
			n.srv.Subscribe(c, "room")
			n.joined.Add(1)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := n.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	n.addr = addr.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.srv.Shutdown(ctx) // closes the broker too
	})
	return n
}

func (n *node) client(t *testing.T) *wstest.Client {
	t.Helper()
	before := n.joined.Load()
	c, err := wstest.Dial(n.addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waitFor(t, func() bool { return n.joined.Load() > before })
	return c
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readAll reads n text messages.
func readAll(t *testing.T, c *wstest.Client, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for len(out) < n {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, string(msg))
	}
	return out
}

// settled publishes probes on from until to's client sees one: from then
// on both nodes' subscriptions are known to the NATS server.
func settled(t *testing.T, from *node, c *wstest.Client) {
	t.Helper()
	c.Timeout = 100 * time.Millisecond
	defer func() { c.Timeout = 10 * time.Second }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		from.srv.Publish("room", shoal.Text, []byte("probe"))
		if _, msg, err := c.ReadMessage(); err == nil && string(msg) == "probe" {
			// Drain probes still in flight.
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}
	}
	t.Fatal("the nodes never saw each other's messages")
}

// TestTwoNodesInOrder: clients on node A receive, in order, what is
// published on node B, and B's own clients get it too (directly).
func TestTwoNodesInOrder(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())
	onA, onB := a.client(t), b.client(t)
	settled(t, b, onA)
	onB.Timeout = 100 * time.Millisecond
	for _, _, err := onB.ReadMessage(); err == nil; _, _, err = onB.ReadMessage() {
	}
	onB.Timeout = 10 * time.Second

	const n = 1000
	for i := 0; i < n; i++ {
		if err := b.srv.Publish("room", shoal.Text, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]*wstest.Client{"remote client on A": onA, "local client on B": onB} {
		got := readAll(t, c, n)
		for i, m := range got {
			if m != strconv.Itoa(i) {
				t.Fatalf("%s: message %d is %q", name, i, m)
			}
		}
	}
	// And the other way, binary this time.
	a.srv.Publish("room", shoal.Binary, []byte{0, 1, 2})
	op, msg, err := onB.ReadMessage()
	if err != nil || op != codec.OpBinary || string(msg) != "\x00\x01\x02" {
		t.Fatalf("A to B: %v %q %v", op, msg, err)
	}
	if st := a.broker.Stats(); st.Received < n || st.Dropped != 0 {
		t.Fatalf("A's broker stats %+v", st)
	}
}

// TestNATSRestart: the NATS server goes away and comes back on the same
// port. Both nodes reconnect by themselves. Messages published on B
// during the gap reach B's own clients at once; A gets them at most once,
// in order, possibly none (NATS core is at-most-once). After the
// reconnect everything flows again.
func TestNATSRestart(t *testing.T) {
	ns := startNATS(t, 0)
	portNum := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	a, b := startNode(t, url), startNode(t, url)
	onA, onB := a.client(t), b.client(t)
	settled(t, b, onA)
	onB.Timeout = 100 * time.Millisecond
	for _, _, err := onB.ReadMessage(); err == nil; _, _, err = onB.ReadMessage() {
	}
	onB.Timeout = 10 * time.Second

	ns.Shutdown()
	waitFor(t, func() bool { return !a.broker.Stats().Connected && !b.broker.Stats().Connected })
	const gap = 50
	for i := 0; i < gap; i++ {
		b.srv.Publish("room", shoal.Text, []byte(fmt.Sprint("gap ", i)))
	}
	// B's own client gets every message of the gap, at once.
	for i, m := range readAll(t, onB, gap) {
		if m != fmt.Sprint("gap ", i) {
			t.Fatalf("local delivery during the gap: %d is %q", i, m)
		}
	}

	startNATS(t, portNum)
	// nats.go reports the connection up before it runs the reconnect
	// callback that counts it: wait for both.
	waitFor(t, func() bool {
		sa, sb := a.broker.Stats(), b.broker.Stats()
		return sa.Connected && sb.Connected && sa.Reconnects > 0 && sb.Reconnects > 0
	})
	b.srv.Publish("room", shoal.Text, []byte("after"))
	// A sees a subsequence of the gap messages, in order and once each,
	// then (after probes) everything published once both are back.
	next := 0
	onA.Timeout = 10 * time.Second
	for {
		_, msg, err := onA.ReadMessage()
		if err != nil {
			t.Fatalf("A after the restart: %v", err)
		}
		s := string(msg)
		if s == "after" {
			break
		}
		if s == "probe" {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(s, "gap %d", &i); err != nil || i < next {
			t.Fatalf("A got %q after gap %d: duplicate or reordered", s, next-1)
		}
		next = i + 1
	}
	t.Logf("A got the gap's messages up to %d of %d (at most once)", next, gap)
	settled(t, b, onA)
	for i := 0; i < 100; i++ {
		b.srv.Publish("room", shoal.Text, []byte(strconv.Itoa(i)))
	}
	for i, m := range readAll(t, onA, 100) {
		if m != strconv.Itoa(i) {
			t.Fatalf("after the restart, message %d is %q", i, m)
		}
	}
}

// TestTopicsWithAnyCharacters: topics are not NATS subjects; dots,
// wildcards and spaces must not leak into subject syntax.
func TestTopicsWithAnyCharacters(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())
	onA := a.client(t)
	settled(t, b, onA)
	for _, topic := range []string{"a.b", "*", ">", "with space", "", "ünïcödé"} {
		// A's client is only in "room": none of these may reach it.
		b.srv.Publish(topic, shoal.Text, []byte("wrong topic "+topic))
	}
	b.srv.Publish("room", shoal.Text, []byte("right topic"))
	_, msg, err := onA.ReadMessage()
	if err != nil || string(msg) != "right topic" {
		t.Fatalf("got %q %v: a message leaked across topics", msg, err)
	}
}
