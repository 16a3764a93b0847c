package shard

import "time"

// stamp is a time on the shard clock in milliseconds, modulo 2^32: a
// connection keeps five of them, and at 4 bytes instead of 8 they cost
// every connection 20 bytes instead of 40. The difference of two stamps
// is exact while under 24 days, far longer than any timeout (Config
// clamps them to maxTimeout). 0 means "not set"; a time that falls on 0
// is moved to 1 ms later.
type stamp uint32

// maxTimeout bounds every configured duration, so that stamp
// differences never wrap.
const maxTimeout = 20 * 24 * time.Hour

func (s *Shard) clock() int64 {
	s.now = int64(time.Since(s.start))
	return s.now
}

// stampNow is the shard clock as of the last clock call.
func (s *Shard) stampNow() stamp {
	if t := stamp(s.now / int64(time.Millisecond)); t != 0 {
		return t
	}
	return 1
}

// since is how long ago t was, as of the last clock call.
func (s *Shard) since(t stamp) time.Duration {
	return time.Duration(int32(s.stampNow()-t)) * time.Millisecond
}

// deadline is the stamp d from now.
func (s *Shard) deadline(d time.Duration) stamp {
	if t := s.stampNow() + stamp(d/time.Millisecond); t != 0 {
		return t
	}
	return 1
}

// wheelTime converts the time d after t into the timer wheel's clock
// (nanoseconds since the shard started).
func (s *Shard) wheelTime(t stamp, d time.Duration) int64 {
	return s.now + int64(d-s.since(t))
}
