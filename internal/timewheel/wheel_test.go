package timewheel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// A non-zero origin catches code that confuses absolute times with offsets
// from the wheel's start.
const (
	origin = 1000
	tick   = 10
)

// at returns the start of tick n plus off ns.
func at(n, off int64) int64 { return origin + n*tick + off }

// recorder collects fire calls and the Advance index at which they happened.
type recorder struct {
	step  int
	fired map[int][]int // timer Value -> Advance indexes it fired in
	order []int
}

func newRecorder() *recorder { return &recorder{fired: map[int][]int{}} }

func (r *recorder) fire(t *Timer[int]) {
	if t.Scheduled() {
		panic("fire called on a timer that is still scheduled")
	}
	r.fired[t.Value] = append(r.fired[t.Value], r.step)
	r.order = append(r.order, t.Value)
}

func (r *recorder) advance(w *Wheel[int], now int64) {
	w.Advance(now, r.fire)
	r.step++
}

func TestDeadlineRounding(t *testing.T) {
	tests := []struct {
		name     string
		pre      int64 // Advance to this before scheduling; 0 = none
		at       int64
		advances []int64
		want     int // index into advances at which it fires; -1 never
	}{
		{"exact boundary, not a ns early", 0, at(3, 0), []int64{at(3, -1), at(3, 0)}, 1},
		{"rounds up to next boundary", 0, at(2, 1), []int64{at(2, 1), at(3, -1), at(3, 0)}, 2},
		{"1ns after start waits a whole tick", 0, origin + 1, []int64{origin, at(1, -1), at(1, 0)}, 2},
		{"at start is already due", 0, origin, []int64{origin}, 0},
		{"before start fires on next Advance", 0, origin - 500, []int64{origin}, 0},
		{"past after Advance fires on next Advance", at(5, 0), at(2, 0), []int64{at(5, 0)}, 0},
		{"past fires even if time went backwards", at(5, 0), at(2, 0), []int64{at(1, 0)}, 0},
		{"later in the current tick rounds up", at(5, 3), at(5, 5), []int64{at(5, 9), at(6, 0)}, 1},
		{"multi-tick Advance lands past deadline", 0, at(4, 2), []int64{at(4, 9), at(7, 3)}, 1},
		{"far future saturates, never fires", 0, math.MaxInt64, []int64{at(1000, 0), math.MaxInt64}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := New[int](tick, 8, origin)
			r := newRecorder()
			if tc.pre != 0 {
				w.Advance(tc.pre, r.fire)
			}
			tm := &Timer[int]{Value: 1}
			w.Schedule(tm, tc.at)
			for _, now := range tc.advances {
				r.advance(w, now)
			}
			var want []int
			if tc.want >= 0 {
				want = []int{tc.want}
			}
			if got := r.fired[1]; !slices.Equal(got, want) {
				t.Errorf("fired at Advance indexes %v, want %v", got, want)
			}
		})
	}
}

func TestReschedule(t *testing.T) {
	tests := []struct {
		name     string
		times    []int64 // successive Schedule calls on one timer
		advances []int64
		want     int
	}{
		{"later", []int64{at(5, 0), at(10, 0)}, []int64{at(5, 0), at(9, 0), at(10, 0)}, 2},
		{"earlier", []int64{at(10, 0), at(3, 0)}, []int64{at(3, 0), at(10, 0), at(30, 0)}, 0},
		{"into the past", []int64{at(10, 0), origin - 1}, []int64{origin, at(10, 0)}, 0},
		{"same tick", []int64{at(5, -3), at(5, 0)}, []int64{at(5, -1), at(5, 0), at(6, 0)}, 1},
		{"beyond a rotation and back", []int64{at(100, 0), at(4, 0), at(100, 0)}, []int64{at(4, 0), at(99, 0), at(100, 0)}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := New[int](tick, 8, origin)
			r := newRecorder()
			tm := &Timer[int]{Value: 1}
			for _, a := range tc.times {
				w.Schedule(tm, a)
				if w.Len() != 1 {
					t.Fatalf("Len = %d after re-Schedule, want 1", w.Len())
				}
			}
			for _, now := range tc.advances {
				r.advance(w, now)
			}
			if got, want := r.fired[1], []int{tc.want}; !slices.Equal(got, want) {
				t.Errorf("fired at Advance indexes %v, want %v", got, want)
			}
		})
	}
}

// TestSameTickKeepsPlace: re-arming within the tick it is already due in
// must not move a timer behind others due in that tick (the per-read re-arm
// relies on this being a no-op).
func TestSameTickKeepsPlace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  int64
		again int64
	}{
		{"slot", at(5, -9), at(5, -5), at(5, 0)},
		{"past", origin - 9, origin - 5, origin - 1},
	} {
		w := New[int](tick, 8, origin)
		a, b := &Timer[int]{Value: 1}, &Timer[int]{Value: 2}
		w.Schedule(a, tc.a)
		w.Schedule(b, tc.b)
		w.Schedule(a, tc.again)
		r := newRecorder()
		r.advance(w, at(5, 0))
		if !slices.Equal(r.order, []int{1, 2}) {
			t.Errorf("%s: fired %v, want [1 2]", tc.name, r.order)
		}
	}
}

func TestStopAndLen(t *testing.T) {
	w := New[int](tick, 8, origin)
	r := newRecorder()
	a, b, c, d := &Timer[int]{Value: 1}, &Timer[int]{Value: 2}, &Timer[int]{Value: 3}, &Timer[int]{Value: 4}
	check := func(when string, n int, scheduled ...bool) {
		t.Helper()
		if w.Len() != n {
			t.Errorf("%s: Len = %d, want %d", when, w.Len(), n)
		}
		for i, tm := range []*Timer[int]{a, b, c, d} {
			if tm.Scheduled() != scheduled[i] {
				t.Errorf("%s: timer %d Scheduled = %v, want %v", when, tm.Value, tm.Scheduled(), scheduled[i])
			}
		}
	}
	check("empty", 0, false, false, false, false)
	w.Stop(a) // unarmed: must not panic or change Len
	check("stop unarmed", 0, false, false, false, false)
	w.Schedule(a, at(3, 0))
	w.Schedule(b, at(3, 0))
	w.Schedule(c, at(50, 0))
	w.Schedule(d, origin-1) // past: sits in the due list
	check("scheduled", 4, true, true, true, true)
	w.Stop(a)
	w.Stop(a)
	w.Stop(d)
	check("stopped", 2, false, true, true, false)
	r.advance(w, at(3, 0))
	check("after fire", 1, false, false, true, false)
	if _, ok := r.fired[1]; ok {
		t.Error("stopped timer fired")
	}
	if _, ok := r.fired[4]; ok {
		t.Error("stopped past-due timer fired")
	}
	if got := r.fired[2]; !slices.Equal(got, []int{0}) {
		t.Errorf("timer 2 fired at %v, want [0]", got)
	}
	w.Stop(c)
	check("all stopped", 0, false, false, false, false)
	r.advance(w, at(1000, 0))
	if len(r.order) != 1 {
		t.Errorf("fired %v, want only timer 2", r.order)
	}
}

// TestBeyondRotation checks timers many rotations out are skipped on every
// earlier pass over their slot, whether Advance steps or jumps.
func TestBeyondRotation(t *testing.T) {
	deadlines := []int64{1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 999, 1000}
	for _, step := range []int64{1, 3, 8, 9, 50, 1000} {
		w := New[int](tick, 8, origin)
		timers := make([]Timer[int], len(deadlines))
		for i, d := range deadlines {
			timers[i].Value = int(d)
			w.Schedule(&timers[i], at(d, 0))
		}
		var now int64
		fire := func(tm *Timer[int]) {
			d := int64(tm.Value)
			if want := (d + step - 1) / step * step; now != want {
				t.Errorf("step %d: deadline %d fired at tick %d, want %d", step, d, now, want)
			}
		}
		for now = step; now < 1000+step; now += step {
			w.Advance(at(now, 0), fire)
		}
		if w.Len() != 0 {
			t.Errorf("step %d: %d timers never fired", step, w.Len())
		}
	}
}

// TestBigJumpTickOrder checks a multi-rotation jump fires exactly the due
// timers, in tick order and in scheduling order within a tick.
func TestBigJumpTickOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := New[int](tick, 8, origin)
	timers := make([]Timer[int], 500)
	ticks := make([]int64, len(timers))
	seq := make([]int, len(timers)) // when Schedule was called
	for k, i := range rng.Perm(len(timers)) {
		ticks[i] = 1 + rng.Int64N(2000)
		seq[i] = k
		timers[i].Value = i
		w.Schedule(&timers[i], at(ticks[i], -rng.Int64N(tick)))
	}
	r := newRecorder()
	r.advance(w, at(1500, 0))
	for k, i := range r.order {
		if ticks[i] > 1500 {
			t.Fatalf("timer due at tick %d fired at tick 1500", ticks[i])
		}
		if k == 0 {
			continue
		}
		p := r.order[k-1]
		if ticks[i] < ticks[p] || ticks[i] == ticks[p] && seq[i] < seq[p] {
			t.Fatalf("(tick %d, seq %d) fired after (tick %d, seq %d)", ticks[i], seq[i], ticks[p], seq[p])
		}
	}
	due := 0
	for _, d := range ticks {
		if d <= 1500 {
			due++
		}
	}
	if len(r.order) != due || w.Len() != len(timers)-due {
		t.Fatalf("fired %d, Len %d; want %d fired, %d left", len(r.order), w.Len(), due, len(timers)-due)
	}
	r.advance(w, at(2000, 0))
	if len(r.order) != len(timers) || w.Len() != 0 {
		t.Fatalf("fired %d of %d, Len %d", len(r.order), len(timers), w.Len())
	}
}

// TestHugeJumpIsCheap would hang if Advance stepped through elapsed ticks:
// 2^62 ticks of 1ns.
func TestHugeJumpIsCheap(t *testing.T) {
	w := New[int](time.Nanosecond, 64, 0)
	r := newRecorder()
	late, early, never := &Timer[int]{Value: 2}, &Timer[int]{Value: 1}, &Timer[int]{Value: 3}
	w.Schedule(late, 1<<50)
	w.Schedule(early, 1<<40)
	w.Schedule(never, 1<<62+1)
	r.advance(w, 1<<62)
	if !slices.Equal(r.order, []int{1, 2}) || w.Len() != 1 {
		t.Fatalf("fired %v with Len %d, want [1 2] with Len 1", r.order, w.Len())
	}
	r.advance(w, 1<<62+1)
	if !slices.Equal(r.order, []int{1, 2, 3}) {
		t.Fatalf("fired %v, want [1 2 3]", r.order)
	}
}

func TestPeriodic(t *testing.T) {
	const period = 7 * tick
	w := New[int](tick, 8, origin)
	var now int64
	var fires []int64
	ping := &Timer[int]{}
	w.Schedule(ping, origin+period)
	fire := func(tm *Timer[int]) {
		fires = append(fires, (now-origin)/tick)
		w.Schedule(tm, now+period)
	}
	for n := int64(1); n <= 100; n++ {
		now = at(n, 0)
		w.Advance(now, fire)
	}
	want := []int64{7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 91, 98}
	if !slices.Equal(fires, want) {
		t.Fatalf("fired at ticks %v, want %v", fires, want)
	}
	if !ping.Scheduled() || w.Len() != 1 {
		t.Fatal("periodic timer not re-armed")
	}
}

// TestRearmIntoPastDoesNotSpin: a callback that catches up by re-arming at
// deadline+period, still in the past after a long stall, must get one fire per
// Advance instead of looping inside a single Advance.
func TestRearmIntoPastDoesNotSpin(t *testing.T) {
	w := New[int](tick, 8, origin)
	tm := &Timer[int]{}
	next := at(5, 0)
	w.Schedule(tm, next)
	calls := 0
	fire := func(tm *Timer[int]) {
		calls++
		next += 5 * tick
		w.Schedule(tm, next)
	}
	now := at(100, 0)
	for i := 1; i <= 3; i++ {
		w.Advance(now, fire)
		if calls != i {
			t.Fatalf("after %d Advances: %d fires", i, calls)
		}
		if d, ok := w.Next(now); !ok || d != 0 {
			t.Fatalf("Next = %v, %v; want 0, true while behind", d, ok)
		}
	}
}

func TestFireStopsOtherDue(t *testing.T) {
	tests := []struct {
		name   string
		slots  int
		a, b   int64 // deadlines; a is scheduled first
		target int64
	}{
		{"same tick, step", 64, at(5, 0), at(5, 0), at(5, 0)},
		{"same tick, jump", 8, at(5, 0), at(5, 0), at(100, 0)},
		{"later tick, step", 64, at(5, 0), at(6, 0), at(6, 0)},
		{"later rotation, jump", 8, at(5, 0), at(50, 0), at(100, 0)},
		{"both past", 8, origin - 5, origin - 1, origin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := New[int](tick, tc.slots, origin)
			a, b := &Timer[int]{Value: 1}, &Timer[int]{Value: 2}
			w.Schedule(a, tc.a)
			w.Schedule(b, tc.b)
			var fired []int
			w.Advance(tc.target, func(tm *Timer[int]) {
				fired = append(fired, tm.Value)
				w.Stop(b)
				w.Stop(tm) // already disarmed: no-op
			})
			w.Advance(tc.target+1000*tick, func(tm *Timer[int]) { fired = append(fired, tm.Value) })
			if !slices.Equal(fired, []int{1}) || w.Len() != 0 {
				t.Fatalf("fired %v with Len %d, want [1] and 0", fired, w.Len())
			}
		})
	}
}

func TestFireMovesOtherDueToFuture(t *testing.T) {
	w := New[int](tick, 8, origin)
	a, b := &Timer[int]{Value: 1}, &Timer[int]{Value: 2}
	w.Schedule(a, at(5, 0))
	w.Schedule(b, at(5, 0))
	r := newRecorder()
	w.Advance(at(20, 0), func(tm *Timer[int]) {
		r.fire(tm)
		if tm == a {
			w.Schedule(b, at(50, 0))
		}
	})
	if !slices.Equal(r.order, []int{1}) {
		t.Fatalf("fired %v, want only [1]", r.order)
	}
	w.Advance(at(50, -1), r.fire)
	w.Advance(at(50, 0), r.fire)
	if !slices.Equal(r.order, []int{1, 2}) || w.Len() != 0 {
		t.Fatalf("fired %v, want [1 2]", r.order)
	}
}

// TestFireSchedulesIntoPast: a timer armed from fire with a deadline already
// passed must fire in this Advance or the next, exactly once, never be lost.
func TestFireSchedulesIntoPast(t *testing.T) {
	for _, deadline := range []int64{origin - 1, at(3, 0), at(5, 0), at(7, 0), at(10, 0)} {
		w := New[int](tick, 8, origin)
		a, c := &Timer[int]{Value: 1}, &Timer[int]{Value: 2}
		w.Schedule(a, at(5, 0))
		r := newRecorder()
		fire := func(tm *Timer[int]) {
			r.fire(tm)
			if tm == a {
				w.Schedule(c, deadline)
			}
		}
		w.Advance(at(10, 0), fire)
		if c.Scheduled() {
			if d, ok := w.Next(at(10, 0)); !ok || d != 0 {
				t.Errorf("deadline %d: pending past timer but Next = %v, %v", deadline, d, ok)
			}
		}
		w.Advance(at(10, 0), fire)
		if !slices.Equal(r.order, []int{1, 2}) {
			t.Errorf("deadline %d: fired %v, want [1 2]", deadline, r.order)
		}
		if w.Len() != 0 {
			t.Errorf("deadline %d: Len %d, want 0", deadline, w.Len())
		}
	}
}

func TestNext(t *testing.T) {
	type op struct {
		schedule int64 // 0 = none
		advance  int64 // 0 = none
	}
	tests := []struct {
		name   string
		ops    []op
		now    int64
		want   time.Duration
		wantOK bool
	}{
		{"empty", nil, origin, 0, false},
		{"armed, at tick start", []op{{schedule: at(50, 0)}}, origin, tick, true},
		{"armed, mid tick", []op{{schedule: at(50, 0)}}, origin + 3, tick - 3, true},
		{"after Advance mid tick", []op{{schedule: at(50, 0)}, {advance: at(4, 2)}}, at(4, 2), tick - 2, true},
		{"now past current tick", []op{{schedule: at(50, 0)}}, at(7, 0), 0, true},
		{"past-due timer pending", []op{{advance: at(4, 0)}, {schedule: at(1, 0)}}, at(4, 5), 0, true},
		{"only timer fired", []op{{schedule: at(2, 0)}, {advance: at(2, 0)}}, at(2, 0), 0, false},
		{"time went backwards", []op{{schedule: at(50, 0)}, {advance: at(4, 0)}}, at(3, 0), 2 * tick, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := New[int](tick, 8, origin)
			timers := make([]Timer[int], len(tc.ops))
			for i, o := range tc.ops {
				if o.schedule != 0 {
					w.Schedule(&timers[i], o.schedule)
				}
				if o.advance != 0 {
					w.Advance(o.advance, func(*Timer[int]) {})
				}
			}
			d, ok := w.Next(tc.now)
			if d != tc.want || ok != tc.wantOK {
				t.Errorf("Next = %v, %v; want %v, %v", d, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestNewRoundsSlots(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{-1, 1}, {0, 1}, {1, 1}, {2, 2}, {3, 4}, {1000, 1024}, {1024, 1024}} {
		if got := len(New[int](tick, tc.in, 0).slots); got != tc.want {
			t.Errorf("New(slots=%d) has %d slots, want %d", tc.in, got, tc.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New with tick 0 did not panic")
		}
	}()
	New[int](0, 8, 0)
}

// TestTimerSize guards per-connection memory: the timer is embedded in every
// conn of a shard that may hold 100k of them.
func TestTimerSize(t *testing.T) {
	size := unsafe.Sizeof(Timer[*int]{})
	t.Logf("unsafe.Sizeof(Timer[*int]{}) = %d", size)
	if size > 40 {
		t.Errorf("Timer[*int] is %d bytes, want <= 40", size)
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	w := New[int](tick, 64, origin)
	timers := make([]Timer[int], 32)
	now := int64(origin)
	fire := func(tm *Timer[int]) { w.Schedule(tm, now+int64(tm.Value)) }
	for i := range timers {
		timers[i].Value = (i + 1) * 3 * tick
	}
	runs := 0
	allocs := testing.AllocsPerRun(1000, func() {
		runs++
		now += tick
		if runs%50 == 0 {
			now += 10000 * tick // force the jump path
		}
		for i := range timers {
			w.Schedule(&timers[i], now+int64(i*7))
		}
		w.Schedule(&timers[0], now-1)
		w.Stop(&timers[1])
		w.Stop(&timers[1])
		w.Advance(now, fire)
		w.Next(now)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per run, want 0", allocs)
	}
}

// BenchmarkSchedule re-arms armed timers, the per-read idle-timeout pattern,
// among 100k armed timers so cache misses are realistic.
func BenchmarkSchedule(b *testing.B) {
	for _, bc := range []struct {
		name  string
		shift int64 // added on odd rounds so the deadline changes tick
	}{{"move", 3 * tick}, {"sametick", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			const n = 100_000
			w := New[int](tick, 1024, origin)
			timers := make([]Timer[int], n)
			for i := range timers {
				w.Schedule(&timers[i], at(int64(i%500), 0))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tm := &timers[i%n]
				w.Schedule(tm, at(int64(i%500)+1, 0)-int64(i/n&1)*bc.shift)
				i++
			}
		})
	}
}

// BenchmarkAdvance steps one tick at a time through 100k timers spread over a
// minute with 10ms ticks, re-arming each fired timer a minute ahead so the
// population stays constant. 4096 slots is ~41s, so some are beyond a rotation.
func BenchmarkAdvance(b *testing.B) {
	const (
		n      = 100_000
		tk     = 10 * time.Millisecond
		minute = int64(time.Minute)
	)
	w := New[int](tk, 4096, 0)
	timers := make([]Timer[int], n)
	for i := range timers {
		w.Schedule(&timers[i], int64(i)*minute/n+1)
	}
	var now int64
	fired := 0
	fire := func(tm *Timer[int]) {
		fired++
		w.Schedule(tm, now+minute)
	}
	b.ReportAllocs()
	for b.Loop() {
		now += int64(tk)
		w.Advance(now, fire)
	}
	b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
}
