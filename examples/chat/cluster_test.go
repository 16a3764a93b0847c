package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs a real nats-server in this process on a loopback port.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown) // after the chat nodes' cleanups
	return ns.ClientURL()
}

// TestClusterTwoNodes: a user on node A and a user on node B share a
// room: each sees the other in the member list, their messages arrive in
// order on the other node, and a later user gets the room's history from
// both nodes.
func TestClusterTwoNodes(t *testing.T) {
	url := startNATS(t)
	// No rate limit: the test talks faster than people do.
	a := startWith(t, config{addr: "127.0.0.1:0", nats: url, rate: 1e9})
	b := startWith(t, config{addr: "127.0.0.1:0", nats: url, rate: 1e9})
	alice, bob := connect(t, a), connect(t, b)
	alice.join("lobby", "alice")
	bob.join("lobby", "bob")
	// Node B learns of alice from A's roster; both end up with both.
	alice.await("presence", members("alice", "bob"))
	bob.await("presence", members("alice", "bob"))

	const n = 50
	for i := 0; i < n; i++ {
		text := fmt.Sprint("from alice ", i)
		if i%2 == 1 {
			text = fmt.Sprint("from bob ", i)
			bob.send(map[string]string{"type": "say", "text": text})
		} else {
			alice.send(map[string]string{"type": "say", "text": text})
		}
		// Each waits for its own message before the next is sent, so
		// the two nodes' messages interleave in a known order.
		for _, u := range []*user{alice, bob} {
			if m := u.await("message", nil); m.Text != text {
				t.Fatalf("got %q, want %q", m.Text, text)
			}
		}
	}

	carol := connect(t, b)
	j := carol.join("lobby", "carol")
	if len(j.History) != n {
		t.Fatalf("carol's history has %d messages, want %d from both nodes", len(j.History), n)
	}
	for i, m := range j.History {
		if want := fmt.Sprint("from alice ", i); i%2 == 0 && m.Text != want {
			t.Fatalf("history %d is %q, want %q", i, m.Text, want)
		}
	}
	if !slices.Equal(j.Members, []string{"alice", "bob", "carol"}) {
		t.Fatalf("carol sees members %v", j.Members)
	}
	// Alice leaves: bob and carol on the other node see it.
	alice.send(map[string]string{"type": "leave"})
	carol.await("presence", members("bob", "carol"))
}
