package shoal

import "github.com/shoalws/shoal/shard"

// Stats is a snapshot of a server's counters since New.
type Stats struct {
	Conns           int64  // open now, handshaking included
	Handshakes      uint64 // upgraded
	HandshakeErrors uint64 // refused, failed (TLS included) or timed out
	AcceptErrors    uint64
	MessagesIn      uint64
	MessagesOut     uint64
	BytesIn         uint64
	BytesOut        uint64
	// QueuedBytes is the memory outbound queues hold now: each queued
	// frame's buffer capacity and bookkeeping, not its wire length.
	QueuedBytes int64
	// PartialBytes is the memory held now by messages being reassembled,
	// server-wide (bounded by Config.MaxPartialBytes).
	PartialBytes int64
	// PausedReads counts the times reading a conn was paused: its mailbox
	// was full, or (OutboundPauses, counted again there) its outbound
	// queue held its limit while it kept sending.
	PausedReads     uint64
	OutboundPauses  uint64
	PoolOverloads   uint64 // times a mailbox found every worker busy
	SendRefused     uint64 // Sends refused by a full outbound queue
	HandlerPanics   uint64
	LoopPasses      uint64 // shard event-loop passes, all shards together
	SlowEvictions   uint64 // subscribers closed (1008) for a full queue
	SlowDrops       uint64 // published messages skipped for a full queue
	MessageTimeouts uint64 // conns closed (1008) for a message not finished in time
	WriteTimeouts   uint64 // conns dropped for output that did not move in time
	// Compressed counts messages compressed (permessage-deflate): once
	// per published message whatever the number of subscribers, once per
	// Send, and once per queued message on connections that keep their
	// compression context.
	Compressed uint64
	// CompressBusy counts messages sent uncompressed because every
	// compressor of the server's bounded pool was in use.
	CompressBusy uint64
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
	var compressed, busy uint64
	if d := s.connCfg.Deflate; d != nil {
		compressed, busy = d.Pool.Lends(), d.Pool.Refused()
	}
	return Stats{
		Compressed:      compressed,
		CompressBusy:    busy,
		Conns:           snap.Open,
		Handshakes:      snap.Handshakes,
		HandshakeErrors: snap.HandshakeErrors + s.tlsHandshakeErrors.Load(),
		AcceptErrors:    snap.AcceptErrors,
		MessagesIn:      snap.MessagesIn,
		MessagesOut:     snap.MessagesOut,
		BytesIn:         snap.BytesIn,
		BytesOut:        snap.BytesOut,
		QueuedBytes:     snap.QueuedBytes,
		PartialBytes:    s.partial.Used(),
		PausedReads:     snap.PausedReads,
		OutboundPauses:  snap.OutboundPauses,
		PoolOverloads:   s.disp.Overloads(),
		SendRefused:     snap.SendRefused,
		HandlerPanics:   s.disp.Panics(),
		LoopPasses:      snap.LoopPasses,
		SlowEvictions:   snap.SlowEvictions,
		SlowDrops:       snap.SlowDrops,
		MessageTimeouts: snap.MessageTimeouts,
		WriteTimeouts:   snap.WriteTimeouts,
		Closes:          snap.Closes,
	}
}
