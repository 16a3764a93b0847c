package timewheel_test

import (
	"fmt"
	"time"

	"github.com/shoalws/shoal/internal/timewheel"
)

// A periodic ping: the fire callback re-arms the timer it was given. The loop
// stands in for a shard's epoll loop, sleeping for whatever Next says.
func Example_periodic() {
	const period = 30 * time.Millisecond
	w := timewheel.New[string](10*time.Millisecond, 64, 0)

	ping := timewheel.Timer[string]{Value: "ping"}
	w.Schedule(&ping, int64(period))

	var now int64
	fire := func(t *timewheel.Timer[string]) {
		fmt.Printf("%v: %s\n", time.Duration(now), t.Value)
		w.Schedule(t, now+int64(period))
	}
	for now < int64(100*time.Millisecond) {
		wait, ok := w.Next(now)
		if !ok {
			break
		}
		now += int64(wait) // epoll_wait would time out here
		w.Advance(now, fire)
	}
	// Output:
	// 30ms: ping
	// 60ms: ping
	// 90ms: ping
}
