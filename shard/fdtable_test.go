package shard

import (
	"slices"
	"testing"
)

func TestFDTable(t *testing.T) {
	var tab fdTable[Conn]
	conns := map[int]*Conn{}
	// fds spread over several pages, with holes and a far one.
	for _, fd := range []int{3, 4, 511, 512, 1000, 1023, 1024, 70000} {
		c := &Conn{id: uint64(fd)}
		conns[fd] = c
		tab.set(fd, c)
	}
	for fd, c := range conns {
		if got := tab.get(fd); got != c {
			t.Errorf("get(%d) = %v, want conn %d", fd, got, c.id)
		}
	}
	for _, fd := range []int{0, 5, 510, 513, 2048, 69999, 1 << 20} {
		if got := tab.get(fd); got != nil {
			t.Errorf("get(%d) = conn %d, want nil", fd, got.id)
		}
	}
	// Clearing an fd past the table or in a missing page allocates nothing.
	pages := len(tab.pages)
	tab.set(1<<22, nil)
	tab.set(5000, nil)
	if len(tab.pages) != pages || tab.pages[5000/fdPageSize] != nil {
		t.Error("clearing an absent fd grew the table")
	}

	// each visits in fd order and tolerates removal while iterating.
	var seen []uint64
	tab.each(func(c *Conn) {
		seen = append(seen, c.id)
		tab.set(int(c.id), nil)
		if c.id == 511 {
			tab.set(1000, nil) // a later one
		}
	})
	want := []uint64{3, 4, 511, 512, 1023, 1024, 70000}
	if !slices.Equal(seen, want) {
		t.Errorf("each visited %v, want %v", seen, want)
	}
	tab.each(func(c *Conn) { t.Errorf("conn %d left after removing all", c.id) })
}
