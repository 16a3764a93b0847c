package shoal

import (
	"runtime/debug"
	"time"
)

// Memory that connections held returns to the pools it came from, and the
// pools (sync.Pool, per size class) keep it until the garbage collector
// has run twice. A server that held a lot for an abusive client and then
// goes quiet may see no collection for minutes, so its resident memory
// would stay at the peak. The server therefore watches what its
// connections hold (outbound queues and unfinished messages); when that
// falls by a quarter of its peak and at least releaseMin (1 MiB), it asks the
// runtime to collect and return free memory to the system, twice a
// second apart (the second empties what the first moved to the pools'
// victim caches), at most once per releaseGap. Nothing of this runs on a
// shard or in the hot path: one goroutine per server, waking every
// releaseTick.
const (
	releaseTick = 250 * time.Millisecond
	releaseMin  = 1 << 20
	releaseGap  = 5 * time.Second
)

// held is the memory the server's connections hold now.
func (s *Server) held() int64 {
	n := s.partial.Used()
	for _, sh := range s.shards {
		n += sh.QueuedBytes()
	}
	return n
}

// releaseLoop gives memory back after a peak; it returns at Shutdown.
// Memory released between two collections sits in the pools' primary
// caches until the collection after next, so while what connections hold
// keeps falling, one more collection follows, a second later each time.
func (s *Server) releaseLoop() {
	tick := time.NewTicker(releaseTick)
	defer tick.Stop()
	var peak, atLast int64 // the peak since the last release; held at the last collection
	var last, next time.Time
	for {
		select {
		case <-s.done:
			return
		case now := <-tick.C:
			held := s.held()
			peak = max(peak, held)
			switch {
			case !next.IsZero() && now.After(next):
				debug.FreeOSMemory()
				if atLast-held >= releaseMin {
					atLast, next = held, now.Add(time.Second)
				} else {
					next, peak = time.Time{}, held
				}
			case next.IsZero() && peak-held >= max(releaseMin, peak/4) && now.Sub(last) >= releaseGap:
				debug.FreeOSMemory()
				last, atLast, next = now, held, now.Add(time.Second)
			}
		}
	}
}
