package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The message store is one JetStream stream, CHAT. Each room is one
// subject, chat.msg.<room> (room names are valid subject tokens). The
// stream is the rooms' history (the newest historySize messages of a
// room's subject), and its sequence numbers are the one order every node
// and every user sees. It keeps many more messages than the histories
// need (limits.stored*): a node whose feed fell behind, cut off from
// NATS or catching up with a burst, must still find every message it has
// not delivered.
//
// A node writes what its users say to the stream and delivers nothing
// directly: every message reaches local members through the node's feed,
// one consumer over the whole stream, so all nodes deliver the same
// messages in the same order, and a node that was cut off resumes from
// the sequence after the last one it delivered. See rooms.go for how a
// join's history and the live feed are stitched.
const (
	streamName  = "CHAT"
	msgPrefix   = "chat.msg."
	msgSubjects = msgPrefix + "*"
)

var (
	errOutboxFull = errors.New("not sent: the message store is unreachable, try again later")
	errClosed     = errors.New("chat: store closed")
)

// record is one stored chat message as the stream holds it.
type record struct {
	seq  uint64
	id   string // Nats-Msg-Id: the publishing node's id and a counter
	room string
	body []byte // storedMessage, JSON
}

// storedMessage is a record's payload.
type storedMessage struct {
	From string `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"` // unix milliseconds
}

// store is a node's connection to the message store.
type store struct {
	// immutable after openStore
	nc       *natsgo.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	node     string
	lim      limits
	tm       timing
	logf     func(string, ...any)
	deliver  func(record)
	stopNATS func() // the embedded server's, or nil
	stop     chan struct{}
	wg       sync.WaitGroup

	mu        sync.Mutex
	outbox    []record // said here, not yet acknowledged by the stream
	outBytes  int
	nextID    uint64
	closing   bool
	pubWake   chan struct{} // the publisher: outbox grew, or reconnected
	feedWake  chan struct{} // the feed: reconnected
	feed      jetstream.MessagesContext
	reconnect []func() // called after each reconnect to NATS
}

// openStore connects to the NATS server at cfg.nats (or starts one in
// process on cfg.data), makes sure the stream exists with the configured
// limits, and starts delivering every message stored from now on to
// deliver, in stream order, on one goroutine.
func openStore(cfg config, node string, deliver func(record)) (*store, error) {
	st := &store{node: node, lim: cfg.limits, tm: cfg.timing, logf: cfg.logf, deliver: deliver,
		stop: make(chan struct{}), pubWake: make(chan struct{}, 1), feedWake: make(chan struct{}, 1)}
	opts := []natsgo.Option{
		natsgo.Name("shoal-chat " + node),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(cfg.timing.reconnectWait),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				st.logf("chat: NATS disconnected: %v", err)
			}
		}),
		natsgo.ReconnectHandler(st.reconnected),
	}
	url := cfg.nats
	if url == "" {
		ns, stop, err := startEmbedded(cfg.data, 2*cfg.limits.storedBytes)
		if err != nil {
			return nil, err
		}
		st.stopNATS = stop
		opts = append(opts, natsgo.InProcessServer(ns))
	}
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		st.closeNATS()
		return nil, fmt.Errorf("chat: connecting to NATS: %w", err)
	}
	st.nc = nc
	st.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(publishWindow),
		jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err == nil {
		err = st.createStream()
	}
	if err != nil {
		nc.Close()
		st.closeNATS()
		return nil, err
	}
	info, err := st.stream.Info(context.Background())
	if err != nil {
		nc.Close()
		st.closeNATS()
		return nil, err
	}
	st.wg.Add(2)
	go st.runFeed(info.State.LastSeq + 1)
	go st.runPublisher()
	return st, nil
}

func (st *store) createStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := st.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              streamName,
		Description:       "shoal chat: the last messages of every room",
		Subjects:          []string{msgSubjects},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: st.lim.storedPerRoom,
		MaxMsgs:           st.lim.storedMsgs,
		MaxBytes:          st.lim.storedBytes,
		MaxAge:            st.lim.storedAge,
		MaxMsgSize:        maxStoredMsg,
		Duplicates:        dedupWindow,
		Replicas:          1,
	})
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("chat: the NATS server has no JetStream (start it with -js): %w", err)
	}
	if err != nil {
		return fmt.Errorf("chat: creating stream %s: %w", streamName, err)
	}
	st.stream = s
	return nil
}

// onReconnect registers f to run after every reconnect to NATS.
func (st *store) onReconnect(f func()) {
	st.mu.Lock()
	st.reconnect = append(st.reconnect, f)
	st.mu.Unlock()
}

func (st *store) reconnected(nc *natsgo.Conn) {
	st.logf("chat: NATS reconnected to %s", nc.ConnectedUrl())
	st.mu.Lock()
	// A feed consumer kept in memory by a NATS server that restarted is
	// gone: start a new one now rather than wait for missed heartbeats.
	if st.feed != nil {
		st.feed.Stop()
	}
	fs := st.reconnect
	st.mu.Unlock()
	poke(st.feedWake)
	poke(st.pubWake)
	for _, f := range fs {
		f()
	}
}

func poke(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// close sends what is waiting in the outbox, for as long as ctx allows,
// then stops the feed and disconnects (and stops the embedded server).
func (st *store) close(ctx context.Context) {
	st.mu.Lock()
	st.closing = true
	st.mu.Unlock()
	poke(st.pubWake)
	for !st.outboxEmpty() && ctx.Err() == nil && st.nc.IsConnected() {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(st.stop)
	st.mu.Lock()
	if st.feed != nil {
		st.feed.Stop()
	}
	st.mu.Unlock()
	poke(st.pubWake)
	st.nc.Close()
	st.wg.Wait()
	st.closeNATS()
}

func (st *store) closeNATS() {
	if st.stopNATS != nil {
		st.stopNATS()
	}
}

func (st *store) stopped() bool {
	select {
	case <-st.stop:
		return true
	default:
		return false
	}
}

// pause waits d, or less if the store stops or wake is poked.
func (st *store) pause(d time.Duration, wake chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-st.stop:
	case <-wake:
	}
}

// ---- the feed ---------------------------------------------------------------

// runFeed delivers every message stored from sequence next on, in order,
// once each, for the life of the store. It reads through an ephemeral
// consumer and, when that fails (NATS restarted, a delivery lost, no
// heartbeat), makes a new one that starts after the last sequence it
// delivered: an outage of any length leaves no gap and no repeat.
func (st *store) runFeed(next uint64) {
	defer st.wg.Done()
	wait := retryMin
	for !st.stopped() {
		n, err := st.feedFrom(next)
		if n > next {
			wait = retryMin // it worked for a while: retry at once
		}
		next = n
		if st.stopped() {
			return
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			st.logf("chat: store feed: %v (resuming at %d)", err, next)
		}
		st.pause(wait, st.feedWake)
		wait = min(2*wait, retryMax)
	}
}

var errFeedGap = errors.New("a delivery was lost")

func (st *store) feedFrom(next uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	cons, err := st.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       next,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 30 * time.Second,
	})
	cancel()
	if err != nil {
		return next, err
	}
	defer st.deleteConsumer(cons)
	it, err := cons.Messages(
		jetstream.PullMaxMessages(512),
		jetstream.PullHeartbeat(st.tm.feedHeartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return next, err
	}
	st.mu.Lock()
	if st.stopped() {
		st.mu.Unlock()
		it.Stop()
		return next, nil
	}
	st.feed = it
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.feed = nil
		st.mu.Unlock()
		it.Stop()
	}()
	var delivered uint64 // this consumer's delivery count
	for {
		msg, err := it.Next()
		if err != nil {
			return next, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return next, err
		}
		// Deliveries are numbered by the consumer; a hole means one was
		// lost between server and client (NATS core is at most once).
		if meta.Sequence.Consumer != delivered+1 {
			return next, errFeedGap
		}
		delivered++
		seq := meta.Sequence.Stream
		if seq < next {
			continue
		}
		next = seq + 1
		room, ok := strings.CutPrefix(msg.Subject(), msgPrefix)
		if !ok {
			continue
		}
		st.deliver(record{seq: seq, id: msg.Headers().Get(jetstream.MsgIDHeader), room: room, body: msg.Data()})
	}
}

func (st *store) deleteConsumer(c jetstream.Consumer) {
	// Best effort: an inactive consumer is removed by the server anyway.
	name := c.CachedInfo().Name
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		st.stream.DeleteConsumer(ctx, name)
	}()
}

// load returns the newest historySize messages the stream holds for
// room, oldest first.
func (st *store) load(room string) ([]record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	cons, pending, err := st.historyStart(ctx, msgPrefix+room)
	if err != nil || cons == nil {
		return nil, err
	}
	defer st.deleteConsumer(cons)
	if pending == 0 { // deleted (by age or limits) since the search began
		return nil, nil
	}
	batch, err := cons.FetchNoWait(int(pending))
	if err != nil {
		return nil, err
	}
	var out []record
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			return nil, err
		}
		out = append(out, record{seq: meta.Sequence.Stream, id: msg.Headers().Get(jetstream.MsgIDHeader), room: room, body: msg.Data()})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return nil, err
	}
	if len(out) > historySize {
		out = out[len(out)-historySize:]
	}
	return out, nil
}

// historyStart returns a consumer of subj's messages from a sequence on
// which there are at least historySize of them (or all there are) and
// not many more, with their number; nil if there are none. The stream
// keeps far more than that per room (so that a feed that fell behind
// still finds every message), so it searches: back from the room's last
// message in growing steps, each probe a consumer whose pending count is
// the room's messages from there on, then halving the distance.
func (st *store) historyStart(ctx context.Context, subj string) (jetstream.Consumer, uint64, error) {
	last, err := st.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	// Invariant: from near the room has fewer than historySize messages,
	// from far at least that many (or far is 1).
	near, far := last.Sequence, uint64(0)
	var cons jetstream.Consumer
	var pending uint64
	for step := uint64(4 * historySize); far == 0; step *= 4 {
		from := uint64(1)
		if near > step {
			from = near - step
		}
		c, n, err := st.probe(ctx, subj, from)
		if err != nil {
			return nil, 0, err
		}
		if n >= historySize || from == 1 {
			far, cons, pending = from, c, n
		} else {
			near = from
			st.deleteConsumer(c)
		}
	}
	for pending > 4*historySize && near-far > 1 {
		mid := far + (near-far)/2
		c, n, err := st.probe(ctx, subj, mid)
		if err != nil {
			st.deleteConsumer(cons)
			return nil, 0, err
		}
		if n >= historySize {
			st.deleteConsumer(cons)
			far, cons, pending = mid, c, n
		} else {
			near = mid
			st.deleteConsumer(c)
		}
	}
	return cons, pending, nil
}

// probe makes a consumer of subj's messages from sequence from on, and
// returns it with how many there are.
func (st *store) probe(ctx context.Context, subj string, from uint64) (jetstream.Consumer, uint64, error) {
	c, err := st.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subj,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 10 * time.Second,
	})
	if err != nil {
		return nil, 0, err
	}
	return c, c.CachedInfo().NumPending, nil
}

// ---- the outbox -------------------------------------------------------------

// publish queues a message for the stream. It is sent as soon as the
// store is reachable, in the order queued, and retried with the same
// message id until the stream acknowledges it: JetStream drops a repeat
// of an id it stored within dedupWindow, and rooms drop repeats they
// still hold (see room.add), so a retry never shows twice. The outbox is
// bounded; past its limit publish fails and the user is told.
func (st *store) publish(room string, m storedMessage) error {
	body := mustJSON(m)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closing {
		return errClosed
	}
	cost := len(body) + recordOverhead
	if len(st.outbox) >= st.lim.outboxMsgs || st.outBytes+cost > st.lim.outboxBytes {
		return errOutboxFull
	}
	st.nextID++
	id := st.node + "-" + strconv.FormatUint(st.nextID, 36)
	st.outbox = append(st.outbox, record{id: id, room: room, body: body})
	st.outBytes += cost
	if len(st.outbox) == 1 {
		poke(st.pubWake)
	}
	return nil
}

func (st *store) outboxEmpty() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.outbox) == 0
}

// publishWindow bounds the acknowledgements awaited at once.
const publishWindow = 256

func (st *store) runPublisher() {
	defer st.wg.Done()
	wait := retryMin
	for {
		st.mu.Lock()
		batch := st.outbox[:min(len(st.outbox), publishWindow)]
		st.mu.Unlock()
		if len(batch) == 0 {
			if st.stopped() {
				return
			}
			st.pause(time.Hour, st.pubWake)
			continue
		}
		n, err := st.send(batch)
		st.mu.Lock()
		for _, r := range st.outbox[:n] {
			st.outBytes -= len(r.body) + recordOverhead
		}
		clear(st.outbox[:n])
		st.outbox = st.outbox[n:]
		if len(st.outbox) == 0 {
			st.outbox = nil // let the array go
		}
		st.mu.Unlock()
		if err == nil {
			wait = retryMin
			continue
		}
		if st.stopped() {
			return
		}
		st.pause(wait, st.pubWake)
		wait = min(2*wait, retryMax)
	}
}

// send publishes batch in order and returns how many from its start the
// stream acknowledged.
func (st *store) send(batch []record) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	var sendErr error
	for _, r := range batch {
		m := &natsgo.Msg{Subject: msgPrefix + r.room, Data: r.body, Header: natsgo.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, r.id)
		f, err := st.js.PublishMsgAsync(m)
		if err != nil {
			sendErr = err
			break
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			// What follows may have been stored too; it is sent again
			// with the same ids, and the repeats are dropped.
			return i, err
		}
	}
	return len(futures), sendErr
}
