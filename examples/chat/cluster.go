package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log"
	"slices"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// cluster shares what chat messages alone do not carry between chat
// nodes over NATS: who is in each room (rosters) and each room's history.
// Chat messages and member-list updates themselves travel through the
// shoal broker, as topic messages.
//
// Rosters: every node announces its local members of a room on
// chat.roster when they change, and all its rosters every rosterEvery;
// a roster not refreshed for rosterTTL is dropped, so the members of a
// node that died disappear. History: each node keeps what its own users
// said; a node whose user joins a room asks all nodes (chat.history,
// request and replies) and merges the answers by time.
type cluster struct {
	app  *app
	nc   *natsgo.Conn
	node string

	mu     sync.Mutex
	remote map[string]map[string]roster // node -> room -> roster
	stop   chan struct{}
}

type roster struct {
	Node  string   `json:"node"`
	Room  string   `json:"room"`
	Names []string `json:"names"`
	seen  time.Time
}

const (
	rosterSubject        = "chat.roster"
	rosterRequestSubject = "chat.roster.request"
	historySubject       = "chat.history"
	rosterEvery          = 5 * time.Second
	rosterTTL            = 3 * rosterEvery
	historyWait          = 250 * time.Millisecond
)

func newCluster(a *app, nc *natsgo.Conn) (*cluster, error) {
	id := make([]byte, 8)
	rand.Read(id)
	c := &cluster{app: a, nc: nc, node: hex.EncodeToString(id),
		remote: make(map[string]map[string]roster), stop: make(chan struct{})}
	if _, err := nc.Subscribe(rosterSubject, c.onRoster); err != nil {
		return nil, err
	}
	if _, err := nc.Subscribe(historySubject, c.onHistoryRequest); err != nil {
		return nil, err
	}
	// A node that starts asks the others for their rosters at once
	// rather than wait for their next refresh.
	if _, err := nc.Subscribe(rosterRequestSubject, func(*natsgo.Msg) { c.announceAll() }); err != nil {
		return nil, err
	}
	nc.Publish(rosterRequestSubject, nil)
	go c.refresh()
	return c, nil
}

// announceAll announces every local roster.
func (c *cluster) announceAll() {
	c.app.mu.Lock()
	rooms := make([]string, 0, len(c.app.rooms))
	for name := range c.app.rooms {
		rooms = append(rooms, name)
	}
	c.app.mu.Unlock()
	for _, r := range rooms {
		c.rosterChanged(r)
	}
}

// rosterChanged announces this node's members of a room.
func (c *cluster) rosterChanged(room string) {
	c.announce(room, c.app.localNames(room))
}

func (c *cluster) announce(room string, names []string) {
	if names == nil {
		names = []string{}
	}
	b, _ := json.Marshal(roster{Node: c.node, Room: room, Names: names})
	c.nc.Publish(rosterSubject, b)
}

// refresh re-announces every local roster, drops stale remote ones, and
// updates the rooms whose member list changed by that.
func (c *cluster) refresh() {
	t := time.NewTicker(rosterEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.announceAll()
		for _, r := range c.expire() {
			c.app.presenceSoon(r)
		}
	}
}

func (c *cluster) expire() (changed []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for node, rooms := range c.remote {
		for room, r := range rooms {
			if time.Since(r.seen) > rosterTTL {
				delete(rooms, room)
				changed = append(changed, room)
			}
		}
		if len(rooms) == 0 {
			delete(c.remote, node)
		}
	}
	return changed
}

func (c *cluster) onRoster(m *natsgo.Msg) {
	var r roster
	if json.Unmarshal(m.Data, &r) != nil || r.Node == c.node {
		return
	}
	r.seen = time.Now()
	c.mu.Lock()
	rooms := c.remote[r.Node]
	if rooms == nil {
		rooms = make(map[string]roster)
		c.remote[r.Node] = rooms
	}
	old := rooms[r.Room]
	rooms[r.Room] = r
	c.mu.Unlock()
	// The node that changed publishes the new member list itself; a
	// change seen only here (a refresh after a lost message) is sent to
	// the room by this node.
	if !slices.Equal(old.Names, r.Names) && !old.seen.IsZero() {
		c.app.presenceSoon(r.Room)
	}
}

// remoteNames lists the other nodes' members of a room.
func (c *cluster) remoteNames(room string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, rooms := range c.remote {
		names = append(names, rooms[room].Names...)
	}
	return names
}

// remoteHistory gathers a room's history from the other nodes.
func (c *cluster) remoteHistory(room string) []stored {
	inbox := c.nc.NewRespInbox()
	ch := make(chan *natsgo.Msg, 64)
	sub, err := c.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		log.Printf("chat: history request: %v", err)
		return nil
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(map[string]string{"room": room, "node": c.node})
	c.nc.PublishRequest(historySubject, inbox, req)
	var all []stored
	deadline := time.After(historyWait)
	for {
		select {
		case m := <-ch:
			var part []stored
			if json.Unmarshal(m.Data, &part) == nil {
				all = append(all, part...)
			}
		case <-deadline:
			return all
		}
	}
}

func (c *cluster) onHistoryRequest(m *natsgo.Msg) {
	var req struct{ Room, Node string }
	if json.Unmarshal(m.Data, &req) != nil || req.Node == c.node || m.Reply == "" {
		return
	}
	c.app.mu.Lock()
	var part []stored
	if r := c.app.rooms[req.Room]; r != nil {
		part = slices.Clone(r.history)
	}
	c.app.mu.Unlock()
	if len(part) == 0 {
		return
	}
	b, _ := json.Marshal(part)
	c.nc.Publish(m.Reply, b)
}

func (c *cluster) close() { close(c.stop) }
