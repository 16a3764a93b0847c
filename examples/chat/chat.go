package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// presencePerMember lengthens the coalescing delay of member-list
	// updates with the room (timing.presenceDelay is the base): every
	// update carries the whole list to every member, so a 4,000-member
	// room gets one about once a second, not one per join.
	presencePerMember = 200 * time.Microsecond
)

// Wire protocol, documented in README.md.
type inbound struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// member is one connection in a room. IDs are unique in the cluster, so
// a page can tell its own entry from another user's of the same name:
// the node's tag and a base-36 counter, short because every joiner gets
// the whole list.
type member struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// memberList is a room's members as "joined" carries them: names, and
// the ids in the same order (names alone are what clients of the first
// protocol read).
type memberList struct {
	Members []string `json:"members"`
	IDs     []string `json:"ids"`
}

func listOf(ms []member) memberList {
	l := memberList{make([]string, len(ms)), make([]string, len(ms))}
	for i, m := range ms {
		l.Members[i], l.IDs[i] = m.Name, m.ID
	}
	return l
}

type chatMessage struct {
	Type string `json:"type"` // "message"
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`  // unix milliseconds
	Seq  uint64 `json:"seq"` // the store's order: later messages have larger seq
}

type joinedMessage struct {
	Type string `json:"type"` // "joined"
	Room string `json:"room"`
	Name string `json:"name"`
	You  string `json:"you"` // this connection's member id
	memberList
	History []json.RawMessage `json:"history"` // "message" objects, oldest first
}

// presenceMessage says how the room's member list changed since the
// last one: who is in it now (joined) and who is not (left), for every
// member whose presence changed. Applied to any list the client got
// since the last update (its "joined" may have come in between), it
// gives the current one.
type presenceMessage struct {
	Type   string   `json:"type"` // "presence"
	Room   string   `json:"room"`
	Joined []member `json:"joined"`
	Left   []string `json:"left"` // ids
}

type errorMessage struct {
	Type  string `json:"type"` // "error"
	Error string `json:"error"`
}

// session is one connection's chat state. Handler calls for one
// connection never overlap (shoal delivers them as an actor), so it needs
// no lock of its own.
type session struct {
	id         string // member id
	name, room string
	tokens     float64
	refilled   time.Time
}

// app is the chat service of one node.
type app struct {
	// immutable once the service has started
	srv     *shoal.Server
	store   *store
	cluster *cluster
	node    string // this node's id, random per process
	tag     string // its short form, the prefix of its member ids
	now     func() time.Time
	rate    float64 // messages a second per connection
	lim     limits
	tm      timing
	logf    func(string, ...any)
	closed  chan struct{} // closed when the service stops
	ids     atomic.Uint64 // member ids handed out

	mu           sync.Mutex
	rooms        map[string]*room // rooms with members on this node
	historyBytes int              // memory the rooms' histories hold
	versions     uint64           // roster versions handed out, all rooms
}

func newApp(cfg config, node string) *app {
	return &app{rooms: make(map[string]*room), node: node, tag: nodeTag(node), now: cfg.now, rate: cfg.rate,
		lim: cfg.limits, tm: cfg.timing, logf: cfg.logf, closed: make(chan struct{})}
}

// nodeTag is four base-36 digits and a '.' from a node id (16 hex
// digits): 1.7 million tags, so two of ten nodes share one with a
// probability of 3 in 100,000.
func nodeTag(node string) string {
	n, _ := strconv.ParseUint(node[:8], 16, 64)
	t := strconv.FormatUint(n%(36*36*36*36)+36*36*36*36, 36) // five digits, the first 1
	return t[1:] + "."
}

func topic(room string) string { return "room:" + room }

// Handler returns the shoal handler of the chat protocol.
func (a *app) handler() shoal.Handler {
	return shoal.HandlerFuncs{
		Open: func(c *shoal.Conn) {
			id := a.tag + strconv.FormatUint(a.ids.Add(1), 36)
			c.SetValue(&session{id: id, tokens: rateBurst, refilled: a.now()})
		},
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

// say stores a message. Nobody, the sender included, gets it from here:
// it comes back through the store's feed, in the order the store gave
// it, to every node's members alike.
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
	m := storedMessage{From: s.name, Text: text, TS: a.now().UnixMilli()}
	if err := a.store.publish(s.room, m); err != nil {
		sendJSON(c, errorMessage{"error", err.Error()})
	}
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

// checkRoom allows lowercase ASCII letters, digits, '-' and '_': every
// room name is also a valid NATS subject token.
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

// mustJSON encodes v without HTML escaping (the page never parses text
// as HTML; "<" stays one byte instead of six) into a slice of its own.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err) // only our own structs are marshalled
	}
	return bytes.Clone(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func sendJSON(c *shoal.Conn, v any) { c.Send(shoal.Text, mustJSON(v)) }
