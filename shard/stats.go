package shard

import (
	"errors"
	"sync/atomic"

	"github.com/shoalws/shoal/codec"
)

// Stats are a shard's counters. The shard thread writes them; anyone may
// read them through Snapshot.
type Stats struct {
	open            atomic.Int64
	handshakes      atomic.Uint64
	handshakeErrors atomic.Uint64
	acceptErrors    atomic.Uint64
	msgsIn          atomic.Uint64
	msgsOut         atomic.Uint64
	bytesIn         atomic.Uint64
	bytesOut        atomic.Uint64
	pausedReads     atomic.Uint64
	sendRefused     atomic.Uint64
	queued          atomic.Int64
	passes          atomic.Uint64
	slowDrops       atomic.Uint64
	slowEvictions   atomic.Uint64
	outboundPauses  atomic.Uint64
	messageTimeouts atomic.Uint64
	writeTimeouts   atomic.Uint64
	// closes by the code that ended the connection: index code-1000 for
	// 1000-1015, closesOther for the rest (3000-4999 and none).
	closes      [16]atomic.Uint64
	closesOther atomic.Uint64
}

// Snapshot is a copy of the counters at one moment.
type Snapshot struct {
	Open            int64
	Handshakes      uint64
	HandshakeErrors uint64
	AcceptErrors    uint64
	MessagesIn      uint64
	MessagesOut     uint64
	BytesIn         uint64
	BytesOut        uint64
	QueuedBytes     int64
	PausedReads     uint64
	SendRefused     uint64
	LoopPasses      uint64
	SlowDrops       uint64
	SlowEvictions   uint64
	OutboundPauses  uint64
	MessageTimeouts uint64
	WriteTimeouts   uint64
	Closes          map[codec.StatusCode]uint64
}

func (st *Stats) countClose(err error) {
	code, ok := codec.CloseCodeOf(err)
	var he *codec.HandshakeError
	switch {
	case errors.As(err, &he):
		st.closesOther.Add(1)
	case ok && code >= 1000 && code <= 1015:
		st.closes[code-1000].Add(1)
	default:
		st.closesOther.Add(1)
	}
}

// Snapshot adds the shard's counters into snap.
func (s *Shard) Snapshot(snap *Snapshot) {
	st := &s.stats
	snap.Open += st.open.Load()
	snap.Handshakes += st.handshakes.Load()
	snap.HandshakeErrors += st.handshakeErrors.Load()
	snap.AcceptErrors += st.acceptErrors.Load()
	snap.MessagesIn += st.msgsIn.Load()
	snap.MessagesOut += st.msgsOut.Load()
	snap.BytesIn += st.bytesIn.Load()
	snap.BytesOut += st.bytesOut.Load()
	snap.PausedReads += st.pausedReads.Load()
	snap.SendRefused += st.sendRefused.Load()
	snap.QueuedBytes += st.queued.Load()
	snap.LoopPasses += st.passes.Load()
	snap.SlowDrops += st.slowDrops.Load()
	snap.SlowEvictions += st.slowEvictions.Load()
	snap.OutboundPauses += st.outboundPauses.Load()
	snap.MessageTimeouts += st.messageTimeouts.Load()
	snap.WriteTimeouts += st.writeTimeouts.Load()
	for i := range st.closes {
		if n := st.closes[i].Load(); n > 0 {
			snap.addClose(codec.StatusCode(1000+i), n)
		}
	}
	if n := st.closesOther.Load(); n > 0 {
		snap.addClose(0, n)
	}
}

// addClose counts closes, making the map only when there is one: a
// monitor polling Stats of a quiet server allocates nothing.
func (snap *Snapshot) addClose(code codec.StatusCode, n uint64) {
	if snap.Closes == nil {
		snap.Closes = make(map[codec.StatusCode]uint64)
	}
	snap.Closes[code] += n
}

// QueuedBytes is the memory this shard's outbound queues hold now.
func (s *Shard) QueuedBytes() int64 { return s.stats.queued.Load() }
