package main

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/shoalws/shoal"
)

// A room exists on a node while it has members there. Its history is the
// node's copy of the newest messages the store holds for it, filled by
// one load when the room opens and kept current by the feed; a joiner
// gets that copy and then the live messages, stitched without a gap or a
// repeat:
//
//   - Everything is ordered by the store's sequence numbers. The feed
//     delivers every room's messages in sequence order; room.add drops
//     any sequence it already has, so the load (which reads the store
//     directly) and the feed may overlap freely.
//   - A room opened by a join starts "loading": the feed's messages for
//     it are kept from that moment, the load reads what the store held
//     before, and the two are merged by sequence. Joiners wait (their
//     "joined" is sent when the load is in) rather than get a history
//     that might end before the live messages begin.
//   - Once loaded, the join's snapshot is taken, sent and the connection
//     subscribed under a.mu, which deliver holds to add a message and
//     publish it to the room's members: each message is in the snapshot
//     or published after the subscription, never both, never neither.
type room struct {
	name     string
	members  map[*shoal.Conn]member // this node's members
	waiting  []*shoal.Conn          // members whose "joined" waits for the load
	ready    bool                   // loaded: joins are answered at once
	history  []entry                // newest messages, by sequence
	bytes    int                    // memory history holds (entryCost)
	lastSeq  uint64                 // newest sequence seen for the room
	version  uint64                 // of this node's roster of the room (a.versions)
	remote   map[string]*roster     // other nodes' rosters, by node id
	presence *time.Timer            // pending member-list update
	touched  map[string]struct{}    // ids whose presence changed since the last
	announce bool                   // the update also announces the roster
	warned   bool                   // waiters were told the store is away
}

// entry is a message in a room's history: the frame as members get it.
type entry struct {
	seq   uint64
	id    string
	frame []byte
}

// entryOverhead is what an entry costs beyond its frame's array: the
// entry itself in the history slice and the id string's bytes.
const entryOverhead = 48

func entryCost(e entry) int { return entryOverhead + cap(e.frame) + len(e.id) }

func (a *app) join(c *shoal.Conn, s *session, roomName, name string) {
	name = strings.TrimSpace(name)
	roomName = strings.ToLower(strings.TrimSpace(roomName))
	if roomName == "" {
		roomName = "lobby"
	}
	if err := checkName(name); err != "" {
		sendJSON(c, errorMessage{"error", err})
		return
	}
	if err := checkRoom(roomName); err != "" {
		sendJSON(c, errorMessage{"error", err})
		return
	}
	// Names are not reserved: without accounts anyone could take any
	// name anyway, and a user whose connection dropped must be able to
	// come back under the same name before the old connection times out.
	// A join to the room one is in answers with a fresh snapshot.
	a.leave(c, s)
	a.mu.Lock()
	r := a.rooms[roomName]
	opened := r == nil
	if opened {
		if len(a.rooms) >= a.lim.rooms {
			a.mu.Unlock()
			sendJSON(c, errorMessage{"error", "too many rooms are open on this server: join one that is in use"})
			return
		}
		r = &room{name: roomName, members: make(map[*shoal.Conn]member), remote: make(map[string]*roster),
			touched: make(map[string]struct{})}
		a.rooms[roomName] = r
	}
	r.members[c] = member{ID: s.id, Name: name}
	a.versions++
	r.version = a.versions
	s.name, s.room = name, roomName
	if r.ready {
		a.welcomeLocked(c, r)
	} else {
		r.waiting = append(r.waiting, c)
	}
	a.changedLocked(r, true, s.id)
	a.mu.Unlock()
	if opened {
		go a.load(r)
		a.cluster.ask(roomName)
	}
}

// welcomeLocked sends c the room's snapshot and subscribes it to the
// room's live messages, atomically with respect to deliver.
func (a *app) welcomeLocked(c *shoal.Conn, r *room) {
	history := make([]json.RawMessage, len(r.history))
	for i, e := range r.history {
		history[i] = e.frame
	}
	s := c.Value().(*session)
	sendJSON(c, joinedMessage{"joined", r.name, s.name, s.id, listOf(a.membersLocked(r)), history})
	a.srv.Subscribe(c, topic(r.name))
}

// leave takes the connection out of its room, if it is in one. The last
// member to leave closes the room on this node.
func (a *app) leave(c *shoal.Conn, s *session) {
	if s.room == "" {
		return
	}
	roomName := s.room
	s.room = ""
	a.srv.Unsubscribe(c, topic(roomName))
	a.mu.Lock()
	r := a.rooms[roomName]
	if r == nil {
		a.mu.Unlock()
		return
	}
	delete(r.members, c)
	r.waiting = slices.DeleteFunc(r.waiting, func(w *shoal.Conn) bool { return w == c })
	// From one counter for all rooms: a room that closes here and opens
	// again must announce versions above the empty roster's.
	a.versions++
	r.version = a.versions
	closed, version := len(r.members) == 0, r.version
	if closed {
		a.closeLocked(r)
	} else {
		a.changedLocked(r, true, s.id)
	}
	a.mu.Unlock()
	if closed {
		a.cluster.announce(roomName, version, nil)
	}
}

// closeLocked forgets a room without members.
func (a *app) closeLocked(r *room) {
	delete(a.rooms, r.name)
	if r.presence != nil {
		r.presence.Stop()
		r.presence = nil
	}
	a.historyBytes -= r.bytes
	r.history, r.bytes = nil, 0
}

// load reads the room's history from the store, merges it with what the
// feed brought meanwhile and answers the joins that waited. While the
// store is unreachable it retries, and the waiting joiners are told why
// they wait.
func (a *app) load(r *room) {
	wait := retryMin
	for {
		recs, err := a.store.load(r.name)
		a.mu.Lock()
		if a.rooms[r.name] != r {
			a.mu.Unlock()
			return
		}
		if err == nil {
			for _, rec := range recs {
				if e, ok := frameOf(rec); ok {
					a.addLocked(r, e)
				}
			}
			r.ready = true
			for _, c := range r.waiting {
				a.welcomeLocked(c, r)
			}
			r.waiting = nil
			a.mu.Unlock()
			return
		}
		if !r.warned {
			r.warned = true
			for _, c := range r.waiting {
				sendJSON(c, errorMessage{"error", "the message store is unreachable: you will join the room when it is back"})
			}
		}
		a.mu.Unlock()
		a.logf("chat: loading room %s: %v (retrying)", r.name, err)
		select {
		case <-a.closed:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// deliver is the store's feed: every stored message, in sequence order.
func (a *app) deliver(rec record) {
	e, ok := frameOf(rec)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rooms[rec.room]
	if r == nil || !a.addLocked(r, e) || !r.ready {
		return
	}
	// Publish only queues: cheap enough to hold the lock, which orders
	// it with joins' snapshots (see room).
	a.srv.Publish(topic(r.name), shoal.Text, e.frame)
}

// frameOf makes the frame members get for a stored message.
func frameOf(rec record) (entry, bool) {
	var m storedMessage
	if json.Unmarshal(rec.body, &m) != nil {
		return entry{}, false
	}
	frame := mustJSON(chatMessage{"message", rec.room, m.From, m.Text, m.TS, rec.seq})
	return entry{seq: rec.seq, id: rec.id, frame: frame}, true
}

// addLocked puts e into the room's history, in sequence order, unless
// the room has it already (the same sequence, or the same message id
// stored twice by a retry the store no longer recognised). It reports
// whether e is new and newer than anything seen: only then is it live.
func (a *app) addLocked(r *room, e entry) bool {
	i, found := slices.BinarySearchFunc(r.history, e.seq, func(x entry, seq uint64) int { return cmp.Compare(x.seq, seq) })
	if found || e.id != "" && slices.ContainsFunc(r.history, func(x entry) bool { return x.id == e.id }) {
		return false
	}
	live := e.seq > r.lastSeq
	if live {
		r.lastSeq = e.seq
	} else if i == 0 && len(r.history) >= historySize {
		return false // older than all we keep
	}
	r.history = slices.Insert(r.history, i, e)
	cost := entryCost(e)
	r.bytes += cost
	a.historyBytes += cost
	// Keep the newest historySize messages that fit in roomBytes.
	for len(r.history) > historySize || r.bytes > a.lim.roomBytes && len(r.history) > 1 {
		cost := entryCost(r.history[0])
		r.bytes -= cost
		a.historyBytes -= cost
		r.history[0] = entry{}
		r.history = slices.Delete(r.history, 0, 1)
	}
	return live
}

// membersLocked is the room's member list across the cluster, in no
// particular order: clients sort it as they show it, and sorting 5,000
// members on every join was half a node's CPU while a big room filled.
func (a *app) membersLocked(r *room) []member {
	list := make([]member, 0, len(r.members))
	for _, m := range r.members {
		list = append(list, m)
	}
	for _, ro := range r.remote {
		list = append(list, ro.members...)
	}
	return list
}

// presenceDeltaLocked is the update for the members touched since the
// last one: each is in joined if in the room now, else in left. A
// member who came and went in between is in left, so a joiner whose
// snapshot caught them in the room drops them too.
func presenceDeltaLocked(r *room) presenceMessage {
	now := make(map[string]string, len(r.members))
	for _, m := range r.members {
		now[m.ID] = m.Name
	}
	for _, ro := range r.remote {
		for _, m := range ro.members {
			now[m.ID] = m.Name
		}
	}
	p := presenceMessage{Type: "presence", Room: r.name, Joined: []member{}, Left: []string{}}
	for id := range r.touched {
		if name, ok := now[id]; ok {
			p.Joined = append(p.Joined, member{ID: id, Name: name})
		} else {
			p.Left = append(p.Left, id)
		}
	}
	clear(r.touched)
	slices.SortFunc(p.Joined, func(x, y member) int { return cmp.Compare(x.ID, y.ID) })
	slices.Sort(p.Left)
	return p
}

// localMembersLocked is this node's roster of the room.
func localMembersLocked(r *room) []member {
	list := make([]member, 0, len(r.members))
	for _, m := range r.members {
		list = append(list, m)
	}
	return list
}

// changedLocked records that the members with ids joined or left and
// schedules the update; own says the change is this node's, to be
// announced to the others.
func (a *app) changedLocked(r *room, own bool, ids ...string) {
	for _, id := range ids {
		r.touched[id] = struct{}{}
	}
	a.presenceSoonLocked(r, own)
}

// presenceSoonLocked sends the room's member-list changes to its members
// here after the coalescing delay, once however many changes come
// meanwhile; with announce, it also announces this node's roster to the
// others.
func (a *app) presenceSoonLocked(r *room, announce bool) {
	r.announce = r.announce || announce
	if r.presence != nil {
		return
	}
	delay := a.tm.presenceDelay + time.Duration(len(r.members))*presencePerMember
	r.presence = time.AfterFunc(delay, func() { a.presenceNow(r) })
}

func (a *app) presenceNow(r *room) {
	a.mu.Lock()
	if a.rooms[r.name] != r || r.presence == nil {
		a.mu.Unlock()
		return
	}
	// Cleared before the changes are taken: a change from now on arms a
	// new update instead of being lost behind this one.
	r.presence = nil
	if len(r.touched) > 0 {
		a.srv.Publish(topic(r.name), shoal.Text, mustJSON(presenceDeltaLocked(r)))
	}
	announce, version, local := r.announce, r.version, localMembersLocked(r)
	r.announce = false
	a.mu.Unlock()
	if announce {
		a.cluster.announce(r.name, version, local)
	}
}

// roomStats is what the rooms hold on this node, for tests and the
// bound the README states.
type roomStats struct {
	rooms, members, historyMessages, historyBytes int
}

func (a *app) stats() roomStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := roomStats{rooms: len(a.rooms), historyBytes: a.historyBytes}
	for _, r := range a.rooms {
		st.members += len(r.members)
		st.historyMessages += len(r.history)
	}
	return st
}
