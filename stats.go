package shoal

import "github.com/shoalws/shoal/shard"

// Stats is a snapshot of a server's counters since New.
type Stats struct {
	Conns           int64  // open now, handshaking included
	Handshakes      uint64 // upgraded
	HandshakeErrors uint64 // refused or timed out
	AcceptErrors    uint64
	MessagesIn      uint64
	MessagesOut     uint64
	BytesIn         uint64
	BytesOut        uint64
	QueuedBytes     int64  // waiting in outbound queues now
	PausedReads     uint64 // times a full mailbox stopped reading a conn
	PoolOverloads   uint64 // times a mailbox found every worker busy
	SendRefused     uint64 // Sends refused by a full outbound queue
	HandlerPanics   uint64
	LoopPasses      uint64 // shard event-loop passes, all shards together
	SlowEvictions   uint64 // subscribers closed (1008) for a full queue
	SlowDrops       uint64 // published messages skipped for a full queue
	// Closes counts ended connections by the close code that ended them;
	// key 0 holds those without one (refused handshakes, for instance).
	// Nil until a connection has ended.
	Closes map[StatusCode]uint64
}

// Stats returns the server's counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	var snap shard.Snapshot
	for _, sh := range s.shards {
		sh.Snapshot(&snap)
	}
	return Stats{
		Conns:           snap.Open,
		Handshakes:      snap.Handshakes,
		HandshakeErrors: snap.HandshakeErrors,
		AcceptErrors:    snap.AcceptErrors,
		MessagesIn:      snap.MessagesIn,
		MessagesOut:     snap.MessagesOut,
		BytesIn:         snap.BytesIn,
		BytesOut:        snap.BytesOut,
		QueuedBytes:     snap.QueuedBytes,
		PausedReads:     snap.PausedReads,
		PoolOverloads:   s.disp.Overloads(),
		SendRefused:     snap.SendRefused,
		HandlerPanics:   s.disp.Panics(),
		LoopPasses:      snap.LoopPasses,
		SlowEvictions:   snap.SlowEvictions,
		SlowDrops:       snap.SlowDrops,
		Closes:          snap.Closes,
	}
}
