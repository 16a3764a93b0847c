package timewheel

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the naive reference: a map of deadlines in ticks, scanned whole on
// every Advance. Past deadlines are clamped to the last advanced tick, which
// is what "fires on the next Advance" means.
type model struct {
	cur   int64
	seq   int
	armed map[int]modelEntry
}

type modelEntry struct {
	tick int64
	seq  int // scheduling order, the tie-break within a tick
}

func newModel() *model { return &model{armed: map[int]modelEntry{}} }

// ceilTick and floorTick are written independently of the wheel's versions
// (no overflow handling needed for the small times used here).
func ceilTick(at int64) int64 {
	if at <= origin {
		return 0
	}
	return (at - origin + tick - 1) / tick
}

func floorTick(now int64) int64 {
	if now <= origin {
		return 0
	}
	return (now - origin) / tick
}

func (m *model) schedule(id int, at int64) {
	d := max(ceilTick(at), m.cur)
	if e, ok := m.armed[id]; ok && e.tick == d {
		return // same tick keeps its place, as the wheel promises
	}
	m.seq++
	m.armed[id] = modelEntry{d, m.seq}
}

func (m *model) stop(id int) { delete(m.armed, id) }

// advance returns the ids due by now in the order the wheel must fire them.
func (m *model) advance(now int64) []int {
	m.cur = max(m.cur, floorTick(now))
	var due []int
	for id, e := range m.armed {
		if e.tick <= m.cur {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, func(a, b int) int {
		ea, eb := m.armed[a], m.armed[b]
		return cmp.Or(cmp.Compare(ea.tick, eb.tick), cmp.Compare(ea.seq, eb.seq))
	})
	for _, id := range due {
		delete(m.armed, id)
	}
	return due
}

// randomStep returns how far a random Advance moves time: often not at all or
// within the tick, sometimes backwards, sometimes many rotations.
func randomStep(rng *rand.Rand) int64 {
	switch r := rng.IntN(100); {
	case r < 25:
		return 0
	case r < 60:
		return rng.Int64N(3 * tick)
	case r < 85:
		return rng.Int64N(30 * tick)
	case r < 92:
		return -rng.Int64N(20 * tick)
	default:
		return rng.Int64N(800 * tick)
	}
}

// randomDeadline mostly spreads deadlines over many rotations, but often
// crowds them into a few ticks around now, so that timers share ticks and
// re-arms land in the same tick or in the past.
func randomDeadline(rng *rand.Rand, now int64) int64 {
	if rng.IntN(3) == 0 {
		return now + rng.Int64N(8*tick) - 4*tick
	}
	return now + rng.Int64N(300*tick) - 5*tick
}

func checkArmed(t *testing.T, w *Wheel[int], m *model, timers []Timer[int]) {
	t.Helper()
	if w.Len() != len(m.armed) {
		t.Fatalf("Len = %d, model has %d", w.Len(), len(m.armed))
	}
	for i := range timers {
		if _, ok := m.armed[i]; timers[i].Scheduled() != ok {
			t.Fatalf("timer %d Scheduled = %v, model says %v", i, timers[i].Scheduled(), ok)
		}
	}
}

// TestModel runs random Schedule/Stop/Advance against the model and requires
// exactly the same timers to fire at each Advance, in the same order.
func TestModel(t *testing.T) {
	for _, slots := range []int{1, 16, 64} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("slots=%d/seed=%d", slots, seed), func(t *testing.T) {
				runModel(t, slots, seed, 20000)
			})
		}
	}
}

func runModel(t *testing.T, slots int, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	w := New[int](tick, slots, origin)
	m := newModel()
	timers := make([]Timer[int], 64)
	for i := range timers {
		timers[i].Value = i
	}
	now := int64(origin)
	var got []int
	fire := func(tm *Timer[int]) { got = append(got, tm.Value) }
	fires := 0
	for op := range ops {
		id := rng.IntN(len(timers))
		switch r := rng.IntN(100); {
		case r < 45:
			when := randomDeadline(rng, now)
			w.Schedule(&timers[id], when)
			m.schedule(id, when)
		case r < 60:
			w.Stop(&timers[id])
			m.stop(id)
		default:
			now += randomStep(rng)
			got = got[:0]
			w.Advance(now, fire)
			want := m.advance(now)
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: Advance(%d) fired %v, model says %v", op, now, got, want)
			}
			fires += len(got)
		}
		checkArmed(t, w, m, timers)
	}
	if fires < ops/10 {
		t.Fatalf("only %d fires in %d ops: the test is not exercising Advance", fires, ops)
	}
}

// TestModelReentrant lets fire Schedule and Stop random timers. The order is
// then implementation-defined, so it checks the rules instead: only armed
// timers fire, never before their deadline, and anything due is fired by the
// end of the next Advance.
func TestModelReentrant(t *testing.T) {
	for _, slots := range []int{1, 16} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("slots=%d/seed=%d", slots, seed), func(t *testing.T) {
				runModelReentrant(t, slots, seed, 10000)
			})
		}
	}
}

func runModelReentrant(t *testing.T, slots int, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, 11))
	w := New[int](tick, slots, origin)
	m := newModel()
	timers := make([]Timer[int], 48)
	for i := range timers {
		timers[i].Value = i
	}
	now := int64(origin)
	reentrant := false
	fire := func(tm *Timer[int]) {
		e, ok := m.armed[tm.Value]
		if !ok {
			t.Fatalf("timer %d fired but is not armed", tm.Value)
		}
		if e.tick > m.cur {
			t.Fatalf("timer %d due at tick %d fired at tick %d", tm.Value, e.tick, m.cur)
		}
		m.stop(tm.Value)
		if reentrant {
			meddle(rng, w, m, timers, now)
		}
	}
	for op := range ops {
		id := rng.IntN(len(timers))
		if r := rng.IntN(100); r < 50 {
			when := randomDeadline(rng, now)
			w.Schedule(&timers[id], when)
			m.schedule(id, when)
			continue
		} else if r < 60 {
			w.Stop(&timers[id])
			m.stop(id)
			continue
		}
		now += randomStep(rng)
		m.cur = max(m.cur, floorTick(now))
		reentrant = true
		w.Advance(now, fire)
		reentrant = false
		w.Advance(now, fire)
		for id, e := range m.armed {
			if e.tick <= m.cur {
				t.Fatalf("op %d: timer %d due at tick %d still armed at tick %d", op, id, e.tick, m.cur)
			}
		}
		checkArmed(t, w, m, timers)
	}
}

// meddle is what a reentrant fire callback does: Stop or Schedule a few random
// timers, possibly the one firing or others due in the same Advance, with
// deadlines both in the past and within the range being advanced over.
func meddle(rng *rand.Rand, w *Wheel[int], m *model, timers []Timer[int], now int64) {
	for range rng.IntN(3) {
		id := rng.IntN(len(timers))
		if rng.IntN(3) == 0 {
			w.Stop(&timers[id])
			m.stop(id)
			continue
		}
		when := now + rng.Int64N(40*tick) - 10*tick
		w.Schedule(&timers[id], when)
		m.schedule(id, when)
	}
}
