package shard

import (
	"testing"

	"github.com/shoalws/shoal/mailbox"
)

// TestOwnRegistryFitsShardIndex: a shard built without a shared registry
// gets one with room for its index (it used to get one of size 1, and a
// shard with index 3 panicked on its first subscription).
func TestOwnRegistryFitsShardIndex(t *testing.T) {
	disp, err := mailbox.New(0, mailbox.Limits{Messages: 1}, mailbox.Hooks[*Conn]{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(3, &Config{}, Hooks{}, disp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.poller.Close()
	s.cfg.Registry.acquire("t", s.id)
	var got []int
	if !s.cfg.Registry.Shards("t", func(i int) { got = append(got, i) }) || len(got) != 1 || got[0] != 3 {
		t.Fatalf("shards holding t: %v", got)
	}
	s.cfg.Registry.release("t", s.id)
	if s.cfg.Registry.Shards("t", func(int) {}) {
		t.Fatal("topic still registered after its last release")
	}
}

// TestRegistryCountsAndHooks: the first subscription of a topic on a node
// and the release of its last are announced once each (a broker follows
// them), whatever the shards.
func TestRegistryCountsAndHooks(t *testing.T) {
	r := NewRegistry(2)
	var first, last []string
	r.OnFirst = func(topic string) { first = append(first, topic) }
	r.OnLast = func(topic string) { last = append(last, topic) }
	r.acquire("a", 0)
	r.acquire("a", 1)
	r.acquire("a", 1)
	r.release("a", 1)
	r.release("a", 0)
	if len(first) != 1 || len(last) != 0 {
		t.Fatalf("first %v last %v while a subscription remains", first, last)
	}
	r.release("a", 1)
	if len(last) != 1 || r.Shards("a", func(int) {}) {
		t.Fatalf("last %v after every release", last)
	}
	r.acquire("a", 0) // a new life for the topic
	if len(first) != 2 {
		t.Fatalf("first %v: a topic that came back was not announced", first)
	}
}
