package main

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// cluster tells the other nodes who is in each room here, over core NATS
// (at most once: every fact is repeated, so a lost one costs a delay).
// A node's member lists are its own members plus the other nodes'
// rosters; they are computed on each node and never sent between nodes,
// so one node's outdated view cannot overwrite another's.
//
//   - chat.roster.<room>: a node's members of a room, with a version
//     from a counter the node bumps on every change in any room (so it
//     grows across a room's closing and reopening). A receiver keeps, per
//     node, the roster with the highest version: a stale one (published
//     late, or buffered through an outage and replayed) is ignored.
//   - Every roster is announced when it changes and again every
//     rosterEvery; one not heard of for rosterTTL is dropped, so the
//     members of a node that died disappear.
//   - chat.who.<room>: a node that opens a room asks for the others'
//     rosters of it, and so does every node after it reconnects to NATS,
//     along with announcing its own: lists are repaired as soon as NATS
//     is back, however long it was away.
//   - chat.bye: a node that shuts down; its rosters are dropped at once.
type cluster struct {
	app  *app
	nc   *natsgo.Conn
	node string
	subs []*natsgo.Subscription
	stop chan struct{}
	done sync.WaitGroup
}

// roster is another node's members of a room.
type roster struct {
	version uint64
	members []member
	seen    time.Time
}

type rosterMessage struct {
	Node    string   `json:"node"`
	Version uint64   `json:"version"`
	Members []member `json:"members"`
}

const (
	rosterPrefix = "chat.roster."
	whoPrefix    = "chat.who."
	byeSubject   = "chat.bye"
)

func newCluster(a *app, st *store) (*cluster, error) {
	c := &cluster{app: a, nc: st.nc, node: a.node, stop: make(chan struct{})}
	for subj, h := range map[string]natsgo.MsgHandler{
		rosterPrefix + "*": c.onRoster,
		whoPrefix + "*":    c.onWho,
		byeSubject:         c.onBye,
	} {
		sub, err := c.nc.Subscribe(subj, h)
		if err != nil {
			c.unsubscribe()
			return nil, err
		}
		c.subs = append(c.subs, sub)
	}
	st.onReconnect(c.resync)
	c.done.Add(1)
	go c.refresh()
	return c, nil
}

func (c *cluster) unsubscribe() {
	for _, s := range c.subs {
		s.Unsubscribe()
	}
}

// close tells the others this node is gone.
func (c *cluster) close() {
	close(c.stop)
	c.done.Wait()
	c.unsubscribe()
	c.nc.Publish(byeSubject, []byte(c.node))
	c.nc.FlushTimeout(time.Second)
}

// announce publishes this node's members of a room.
func (c *cluster) announce(room string, version uint64, members []member) {
	if members == nil {
		members = []member{}
	}
	c.nc.Publish(rosterPrefix+room, mustJSON(rosterMessage{c.node, version, members}))
}

// ask requests the other nodes' rosters of a room.
func (c *cluster) ask(room string) { c.nc.Publish(whoPrefix+room, []byte(c.node)) }

func (c *cluster) onRoster(m *natsgo.Msg) {
	room, _ := strings.CutPrefix(m.Subject, rosterPrefix)
	var msg rosterMessage
	if json.Unmarshal(m.Data, &msg) != nil || msg.Node == c.node || msg.Node == "" {
		return
	}
	a := c.app
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rooms[room]
	if r == nil {
		return // no member here: nobody to show it to
	}
	old := r.remote[msg.Node]
	switch {
	case old != nil && msg.Version < old.version:
		return // stale
	case old != nil && msg.Version == old.version:
		old.seen = time.Now()
		return
	}
	r.remote[msg.Node] = &roster{version: msg.Version, members: msg.Members, seen: time.Now()}
	var before []member
	if old != nil {
		before = old.members
	}
	if changed := changedIDs(before, msg.Members); len(changed) > 0 {
		a.changedLocked(r, false, changed...)
	}
}

// changedIDs lists the members in one roster and not the other, or
// renamed.
func changedIDs(old, now []member) []string {
	was := make(map[string]string, len(old))
	for _, m := range old {
		was[m.ID] = m.Name
	}
	var ids []string
	for _, m := range now {
		if name, ok := was[m.ID]; !ok || name != m.Name {
			ids = append(ids, m.ID)
		}
		delete(was, m.ID)
	}
	for id := range was {
		ids = append(ids, id)
	}
	return ids
}

// droppedLocked forgets a node's roster of a room.
func (a *app) droppedLocked(r *room, node string) {
	if ro := r.remote[node]; ro != nil {
		delete(r.remote, node)
		if ids := changedIDs(ro.members, nil); len(ids) > 0 {
			a.changedLocked(r, false, ids...)
		}
	}
}

func (c *cluster) onWho(m *natsgo.Msg) {
	room, _ := strings.CutPrefix(m.Subject, whoPrefix)
	if string(m.Data) == c.node {
		return
	}
	a := c.app
	a.mu.Lock()
	r := a.rooms[room]
	if r == nil || len(r.members) == 0 {
		a.mu.Unlock()
		return
	}
	version, local := r.version, localMembersLocked(r)
	a.mu.Unlock()
	c.announce(room, version, local)
}

func (c *cluster) onBye(m *natsgo.Msg) {
	node := string(m.Data)
	a := c.app
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.rooms {
		a.droppedLocked(r, node)
	}
}

// refresh re-announces every roster and drops the others' that expired.
func (c *cluster) refresh() {
	defer c.done.Done()
	t := time.NewTicker(c.app.tm.rosterEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.expire()
		c.announceAll(false)
	}
}

func (c *cluster) expire() {
	a := c.app
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.rooms {
		for node, ro := range r.remote {
			if time.Since(ro.seen) > a.tm.rosterTTL {
				a.droppedLocked(r, node)
			}
		}
	}
}

// resync runs after a reconnect to NATS: what was said about rosters
// meanwhile was lost, so every node says it again.
func (c *cluster) resync() { c.announceAll(true) }

func (c *cluster) announceAll(ask bool) {
	type snapshot struct {
		room    string
		version uint64
		members []member
	}
	a := c.app
	a.mu.Lock()
	all := make([]snapshot, 0, len(a.rooms))
	for _, r := range a.rooms {
		all = append(all, snapshot{r.name, r.version, localMembersLocked(r)})
	}
	a.mu.Unlock()
	for _, s := range all {
		c.announce(s.room, s.version, s.members)
		if ask {
			c.ask(s.room)
		}
	}
}
