package main

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shoalws/shoal"
)

// Limits of the chat protocol.
const (
	maxName     = 24   // characters
	maxRoom     = 32   // characters
	maxText     = 1000 // characters in one message
	historySize = 100  // messages kept per room
	// maxFrame bounds one WebSocket message: a say of maxText characters
	// of 4-byte UTF-8 plus JSON fits; anything larger is not a chat
	// client and is closed with 1009.
	maxFrame = 8 << 10
	// Rate limit: a burst of 10 messages, then 5 a second.
	rateBurst  = 10
	ratePerSec = 5
	// presenceDelay coalesces member-list updates: a burst of joins to a
	// big room sends one list, not one per join to every member. Every
	// update carries the whole list to every member, so the delay grows
	// with the room: presencePerMember more per local member (a second
	// at 4,000).
	presenceDelay     = 200 * time.Millisecond
	presencePerMember = 200 * time.Microsecond
)

// Wire protocol, documented in README.md.
type inbound struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Name string `json:"name"`
	Text string `json:"text"`
}

type chatMessage struct {
	Type string `json:"type"` // "message"
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"` // unix milliseconds
}

type joinedMessage struct {
	Type    string        `json:"type"` // "joined"
	Room    string        `json:"room"`
	Name    string        `json:"name"`
	Members []string      `json:"members"`
	History []chatMessage `json:"history"`
}

type presenceMessage struct {
	Type    string   `json:"type"` // "presence"
	Room    string   `json:"room"`
	Members []string `json:"members"`
}

type errorMessage struct {
	Type  string `json:"type"` // "error"
	Error string `json:"error"`
}

// stored is a message in a room's history, with the nanosecond time
// that orders it among messages said in the same millisecond on other
// nodes.
type stored struct {
	chatMessage
	NS int64 `json:"ns"`
}

// mergeHistory merges this node's history with other nodes' by time and
// keeps the newest historySize.
func mergeHistory(local, remote []stored) []stored {
	all := append(slices.Clone(local), remote...)
	slices.SortStableFunc(all, func(x, y stored) int { return cmp.Compare(x.NS, y.NS) })
	if len(all) > historySize {
		all = all[len(all)-historySize:]
	}
	return all
}

func messages(h []stored) []chatMessage {
	out := make([]chatMessage, len(h))
	for i := range h {
		out[i] = h[i].chatMessage
	}
	return out
}

// session is one connection's chat state. Handler calls for one
// connection never overlap (shoal delivers them as an actor), so it needs
// no lock of its own.
type session struct {
	name, room string
	tokens     float64
	refilled   time.Time
}

// room is a room's state on this node.
type room struct {
	members  map[*shoal.Conn]string // local members and their names
	history  []stored               // said on this node, oldest first
	presence *time.Timer            // pending coalesced member-list update
}

// app is the chat service of one node.
type app struct {
	srv     *shoal.Server
	cluster *cluster // nil when running alone
	now     func() time.Time
	rate    float64 // messages a second per connection

	mu    sync.Mutex
	rooms map[string]*room
}

func newApp() *app {
	return &app{rooms: make(map[string]*room), now: time.Now, rate: ratePerSec}
}

func topic(room string) string { return "room:" + room }

// Handler returns the shoal handler of the chat protocol.
func (a *app) handler() shoal.Handler {
	return shoal.HandlerFuncs{
		Open:    func(c *shoal.Conn) { c.SetValue(&session{tokens: rateBurst, refilled: a.now()}) },
		Message: a.onMessage,
		Close:   func(c *shoal.Conn, err error) { a.leave(c, c.Value().(*session)) },
	}
}

func (a *app) onMessage(c *shoal.Conn, m shoal.Message) {
	s := c.Value().(*session)
	if !s.allow(a.now(), a.rate) {
		sendJSON(c, errorMessage{"error", "slow down: at most 5 messages a second"})
		return
	}
	var in inbound
	if m.Type != shoal.Text || json.Unmarshal(m.Data, &in) != nil {
		sendJSON(c, errorMessage{"error", "send JSON text frames: {\"type\":\"join\"|\"say\"|\"leave\", ...}"})
		return
	}
	switch in.Type {
	case "join":
		a.join(c, s, in.Room, in.Name)
	case "say":
		a.say(c, s, in.Text)
	case "leave":
		a.leave(c, s)
	default:
		sendJSON(c, errorMessage{"error", "unknown message type " + strings.ToValidUTF8(clip(in.Type, 20), "")})
	}
}

// allow takes a token from the connection's bucket, which holds a burst
// of rateBurst and refills at rate tokens a second.
func (s *session) allow(now time.Time, rate float64) bool {
	s.tokens = min(rateBurst, s.tokens+now.Sub(s.refilled).Seconds()*rate)
	s.refilled = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

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
	var remote []stored
	if a.cluster != nil {
		remote = a.cluster.remoteHistory(roomName) // a network wait: not under the lock
	}
	a.mu.Lock()
	r := a.rooms[roomName]
	if r == nil {
		r = &room{members: make(map[*shoal.Conn]string)}
		a.rooms[roomName] = r
	}
	r.members[c] = name
	s.name, s.room = name, roomName
	// The snapshot is sent, and the subscription posted, under the lock
	// that say holds to record and publish: every message said on this
	// node is in the history or arrives live after the snapshot, once.
	history := mergeHistory(r.history, remote)
	sendJSON(c, joinedMessage{"joined", roomName, name, a.membersLocked(roomName), messages(history)})
	a.srv.Subscribe(c, topic(roomName))
	a.mu.Unlock()
	if a.cluster != nil {
		a.cluster.rosterChanged(roomName)
	}
	a.presenceSoon(roomName)
}

func (a *app) say(c *shoal.Conn, s *session, text string) {
	if s.room == "" {
		sendJSON(c, errorMessage{"error", "join a room first"})
		return
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return
	case !utf8.ValidString(text):
		sendJSON(c, errorMessage{"error", "text must be UTF-8"})
		return
	case utf8.RuneCountInString(text) > maxText:
		sendJSON(c, errorMessage{"error", "message too long: at most 1000 characters"})
		return
	}
	now := a.now()
	m := chatMessage{"message", s.room, s.name, text, now.UnixMilli()}
	frame := mustJSON(m)
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.rooms[s.room]; r != nil {
		r.history = append(r.history, stored{m, now.UnixNano()})
		if len(r.history) > historySize {
			r.history = slices.Delete(r.history, 0, len(r.history)-historySize)
		}
	}
	// Publish only queues: cheap enough to hold the lock, which orders it
	// with joins' snapshots (see join).
	a.srv.Publish(topic(s.room), shoal.Text, frame)
}

// leave takes the connection out of its room, if it is in one.
func (a *app) leave(c *shoal.Conn, s *session) {
	if s.room == "" {
		return
	}
	roomName := s.room
	s.room = ""
	a.srv.Unsubscribe(c, topic(roomName))
	a.mu.Lock()
	if r := a.rooms[roomName]; r != nil {
		delete(r.members, c)
		if len(r.members) == 0 && len(r.history) == 0 && r.presence == nil {
			delete(a.rooms, roomName)
		}
	}
	a.mu.Unlock()
	if a.cluster != nil {
		a.cluster.rosterChanged(roomName)
	}
	a.presenceSoon(roomName)
}

// localNames lists this node's members of a room.
func (a *app) localNames(roomName string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.localNamesLocked(roomName)
}

func (a *app) localNamesLocked(roomName string) []string {
	r := a.rooms[roomName]
	if r == nil {
		return nil
	}
	names := make([]string, 0, len(r.members))
	for _, n := range r.members {
		names = append(names, n)
	}
	return names
}

// membersLocked is the room's member list across the cluster, sorted; a
// name used by two connections appears twice. a.mu must be held (lock
// order: a.mu, then the cluster's).
func (a *app) membersLocked(roomName string) []string {
	names := a.localNamesLocked(roomName)
	if a.cluster != nil {
		names = append(names, a.cluster.remoteNames(roomName)...)
	}
	slices.Sort(names)
	return names
}

// presenceSoon publishes the room's member list after presenceDelay,
// once however many changes come meanwhile.
func (a *app) presenceSoon(roomName string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rooms[roomName]
	if r == nil {
		r = &room{members: make(map[*shoal.Conn]string)}
		a.rooms[roomName] = r
	}
	if r.presence != nil {
		return
	}
	delay := presenceDelay + time.Duration(len(r.members))*presencePerMember
	r.presence = time.AfterFunc(delay, func() {
		// Cleared before the list is taken: a change from now on arms a
		// new update instead of being lost behind this one.
		a.mu.Lock()
		r.presence = nil
		list := a.membersLocked(roomName)
		if len(r.members) == 0 && len(r.history) == 0 && a.rooms[roomName] == r {
			delete(a.rooms, roomName)
		}
		a.mu.Unlock()
		a.srv.Publish(topic(roomName), shoal.Text, mustJSON(presenceMessage{"presence", roomName, list}))
	})
}

// checkName allows letters, digits, spaces, '-' and '_'.
func checkName(n string) string {
	const rule = "name must be 1-24 letters, digits, spaces, - or _"
	if n == "" || utf8.RuneCountInString(n) > maxName {
		return rule
	}
	for _, r := range n {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' && r != '-' && r != '_' {
			return rule
		}
	}
	return ""
}

// checkRoom allows lowercase ASCII letters, digits, '-' and '_'.
func checkRoom(n string) string {
	const rule = "room must be 1-32 of a-z, 0-9, - or _"
	if n == "" || len(n) > maxRoom {
		return rule
	}
	for _, r := range n {
		if !('a' <= r && r <= 'z') && !('0' <= r && r <= '9') && r != '-' && r != '_' {
			return rule
		}
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own structs are marshalled
	}
	return b
}

func sendJSON(c *shoal.Conn, v any) { c.Send(shoal.Text, mustJSON(v)) }
