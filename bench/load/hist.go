package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets: 16 sub-buckets per
// power of two, so any quantile is within about 6% of the true value,
// in fixed memory whatever the sample count. Record is lock-free and
// allocation-free, so shard threads can record concurrently from the
// receive path.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
	n      atomic.Uint64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

// bucketOf maps a value in nanoseconds to its bucket index.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // >= histSubBits
	sub := (v >> (e - histSubBits)) & (histSub - 1)
	return (e-histSubBits+1)*histSub + int(sub)
}

// bucketLow is the smallest value that falls into bucket i.
func bucketLow(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := i/histSub + histSubBits - 1
	sub := uint64(i % histSub)
	return (histSub + sub) << (e - histSubBits)
}

// Record adds one sample. Negative durations (a clock cannot go back,
// but a corrupted timestamp can) count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count is the number of samples recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest sample recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-th quantile (0 < q <= 1) as the midpoint of
// the bucket holding it, or 0 with no samples. Call it once recording
// has stopped.
func (h *Histogram) Quantile(q float64) time.Duration {
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketLow(i), bucketLow(i+1)
			if i+1 >= histBuckets {
				hi = lo
			}
			mid := lo + (hi-lo)/2
			if m := uint64(h.Max()); mid > m {
				mid = m // the top bucket is never above the true max
			}
			return time.Duration(mid)
		}
	}
	return h.Max()
}

// Latency is a JSON summary of a Histogram, in microseconds.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	Maxus   float64 `json:"max_us"`
}

// Summary reads the usual quantiles.
func (h *Histogram) Summary() Latency {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{
		Samples: h.Count(),
		P50us:   us(h.Quantile(0.50)),
		P99us:   us(h.Quantile(0.99)),
		Maxus:   us(h.Max()),
	}
}

// merge adds o's samples to h. Call it once recording has stopped.
func (h *Histogram) merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.n.Add(o.n.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// histShards spreads samples over several histograms: goroutines on
// different cores recording into one would bounce its hot cache lines
// between them at millions of samples a second. 16 of them make that
// rare on a small machine, in 125 KiB.
type histShards [16]Histogram

// record adds a sample to shard i (mod 16): a connection's index.
func (s *histShards) record(i int, d time.Duration) { s[i&15].Record(d) }

// summary merges the shards' samples.
func (s *histShards) summary() Latency {
	var all Histogram
	for i := range s {
		all.merge(&s[i])
	}
	return all.Summary()
}
