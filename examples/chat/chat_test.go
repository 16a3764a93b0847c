package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// startChat runs a chat node on a loopback port for the test.
func startChat(t *testing.T, natsURL string) *service {
	t.Helper()
	return startWith(t, config{addr: "127.0.0.1:0", nats: natsURL})
}

// startWith runs a chat node with cfg for the test; without a NATS URL
// or a data directory, its embedded store lives in a temporary one.
func startWith(t *testing.T, cfg config) *service {
	t.Helper()
	if cfg.nats == "" && cfg.data == "" {
		cfg.data = t.TempDir()
	}
	if cfg.logf == nil {
		cfg.logf = t.Logf
	}
	s, err := start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.stop(ctx)
	})
	return s
}

// stopNode stops a node before the end of the test (its cleanup then
// does nothing).
func stopNode(t *testing.T, s *service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.stop(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
}

// user is a protocol-level client: a raw WebSocket and decoded frames,
// and the member list as the updates it got make it.
type user struct {
	t       *testing.T
	c       *wstest.Client
	members memberState
}

func connect(t *testing.T, s *service) *user {
	t.Helper()
	c, err := wstest.Dial(s.addr(), "/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &user{t: t, c: c, members: memberState{}}
}

func (u *user) send(v any) {
	u.t.Helper()
	b, _ := json.Marshal(v)
	if err := u.c.WriteFrame(codec.OpText, true, b); err != nil {
		u.t.Fatal(err)
	}
}

// event is any server message, decoded loosely.
type event struct {
	Type    string        `json:"type"`
	Room    string        `json:"room"`
	Name    string        `json:"name"`
	From    string        `json:"from"`
	Text    string        `json:"text"`
	TS      int64         `json:"ts"`
	Seq     uint64        `json:"seq"`
	You     string        `json:"you"`
	Members []string      `json:"members"`
	IDs     []string      `json:"ids"`
	Joined  []member      `json:"joined"`
	Left    []string      `json:"left"`
	History []chatMessage `json:"history"`
	Error   string        `json:"error"`

	list []string // the member list after this event, names in server order
}

// names lists the members' names, in the server's order, after the
// event: "joined" sets the list, "presence" changes it.
func (e event) names() []string { return e.list }

// memberState is a client's member list: name by id.
type memberState map[string]string

// apply updates the list with e and records the result in e.
func (ms memberState) apply(e *event) {
	switch e.Type {
	case "joined":
		clear(ms)
		for i, name := range e.Members {
			ms[e.IDs[i]] = name
		}
	case "presence":
		for _, m := range e.Joined {
			ms[m.ID] = m.Name
		}
		for _, id := range e.Left {
			delete(ms, id)
		}
	default:
		return
	}
	all := make([]member, 0, len(ms))
	for id, name := range ms {
		all = append(all, member{id, name})
	}
	slices.SortFunc(all, func(x, y member) int { return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID)) })
	e.list = make([]string, len(all))
	for i, m := range all {
		e.list[i] = m.Name
	}
}

func (u *user) next() event {
	u.t.Helper()
	_, b, err := u.c.ReadMessage()
	if err != nil {
		u.t.Fatalf("reading: %v", err)
	}
	var e event
	if err := json.Unmarshal(b, &e); err != nil {
		u.t.Fatalf("server sent %q: %v", b, err)
	}
	u.members.apply(&e)
	return e
}

// await reads until an event of type typ satisfying ok (nil: any).
func (u *user) await(typ string, ok func(event) bool) event {
	u.t.Helper()
	for {
		e := u.next()
		if e.Type == typ && (ok == nil || ok(e)) {
			return e
		}
	}
}

func (u *user) join(room, name string) event {
	u.t.Helper()
	u.send(map[string]string{"type": "join", "room": room, "name": name})
	return u.await("joined", nil)
}

func members(want ...string) func(event) bool {
	return func(e event) bool { return slices.Equal(e.names(), want) }
}

func TestJoinSayHistoryPresence(t *testing.T) {
	s := startChat(t, "")
	alice, bob := connect(t, s), connect(t, s)
	if j := alice.join("lobby", "alice"); !slices.Equal(j.names(), []string{"alice"}) || len(j.History) != 0 {
		t.Fatalf("alice joined: %+v", j)
	}
	if j := bob.join("lobby", "bob"); !slices.Equal(j.names(), []string{"alice", "bob"}) {
		t.Fatalf("bob joined: %+v", j)
	}
	alice.await("presence", members("alice", "bob"))

	alice.send(map[string]string{"type": "say", "text": "hi <b>bob</b>"})
	for _, u := range []*user{alice, bob} {
		m := u.await("message", nil)
		if m.From != "alice" || m.Text != "hi <b>bob</b>" || m.Room != "lobby" || m.TS == 0 {
			t.Fatalf("message %+v", m)
		}
	}
	carol := connect(t, s)
	j := carol.join("lobby", "carol")
	if len(j.History) != 1 || j.History[0].Text != "hi <b>bob</b>" || j.History[0].From != "alice" {
		t.Fatalf("carol's history %+v", j.History)
	}
}

func TestHistoryKeepsLast100InOrder(t *testing.T) {
	s := startWith(t, config{addr: "127.0.0.1:0", rate: 1e9})
	alice := connect(t, s)
	alice.join("lobby", "alice")
	for i := 0; i < 120; i++ {
		alice.send(map[string]string{"type": "say", "text": fmt.Sprint(i)})
		alice.await("message", func(e event) bool { return e.Text == fmt.Sprint(i) })
	}
	j := connect(t, s).join("lobby", "bob")
	if len(j.History) != historySize || j.History[0].Text != "20" || j.History[99].Text != "119" {
		t.Fatalf("history: %d messages, %q..%q", len(j.History), j.History[0].Text, j.History[len(j.History)-1].Text)
	}
}

func TestLeaveAndDisconnectUpdatePresence(t *testing.T) {
	s := startChat(t, "")
	alice, bob, carol := connect(t, s), connect(t, s), connect(t, s)
	alice.join("lobby", "alice")
	bob.join("lobby", "bob")
	carol.join("lobby", "carol")
	alice.await("presence", members("alice", "bob", "carol"))
	bob.send(map[string]string{"type": "leave"})
	alice.await("presence", members("alice", "carol"))
	carol.c.Close()
	alice.await("presence", members("alice"))
	// Switching rooms leaves the old one.
	alice.join("kitchen", "alice")
	if e := connect(t, s).join("lobby", "dave"); !slices.Equal(e.names(), []string{"dave"}) {
		t.Fatalf("lobby after alice switched: %v", e.Members)
	}
}

// TestErrorsKeepConnectionUsable: bad names and rooms, over-long text,
// unknown types and rate-limit breaches get an error message, and the
// connection goes on working.
func TestErrorsKeepConnectionUsable(t *testing.T) {
	// The test moves the rate limiter's clock itself.
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	s := startWith(t, config{addr: "127.0.0.1:0", now: clock})
	u := connect(t, s)
	bad := []map[string]string{
		{"type": "join", "room": "lobby", "name": ""},
		{"type": "join", "room": "lobby", "name": strings.Repeat("n", 25)},
		{"type": "join", "room": "lobby", "name": "<script>"},
		{"type": "join", "room": "Bad Room!", "name": "ok"},
		{"type": "say", "text": "before joining"},
		{"type": "dance"},
	}
	for _, m := range bad {
		u.send(m)
		if e := u.next(); e.Type != "error" || e.Error == "" {
			t.Fatalf("%v: got %+v, want an error", m, e)
		}
	}
	u.join("lobby", "ok")
	u.send(map[string]string{"type": "say", "text": strings.Repeat("é", 1001)})
	if e := u.await("error", nil); !strings.Contains(e.Error, "too long") {
		t.Fatalf("over-long message: %q", e.Error)
	}
	// Rate limit: a burst of 30 trips it; the connection stays.
	for i := 0; i < 30; i++ {
		u.send(map[string]string{"type": "say", "text": "spam"})
	}
	limited := false
	for i := 0; i < 30; i++ {
		if e := u.next(); e.Type == "error" && strings.Contains(e.Error, "slow down") {
			limited = true
		}
	}
	if !limited {
		t.Fatal("30 messages at once were not rate limited")
	}
	skew.Add(int64(time.Second)) // a second later the bucket has refilled
	u.send(map[string]string{"type": "say", "text": "still here"})
	u.await("message", func(e event) bool { return e.Text == "still here" })
	// A frame larger than any chat message is closed with 1009.
	u.c.WriteFrame(codec.OpText, true, make([]byte, maxFrame+1))
	if code, err := u.c.ExpectClose(); err != nil || code != codec.StatusTooBig {
		t.Fatalf("oversized frame: close %v %v, want 1009", code, err)
	}
}

// TestRejoinAndSameName: a user coming back under the same name before
// the old connection has timed out is let in, and a repeated join answers
// with a fresh snapshot.
// TestRateLimitBucket: a burst of rateBurst, then ratePerSec a second.
func TestRateLimitBucket(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	s := session{tokens: rateBurst, refilled: t0}
	for i := 0; i < rateBurst; i++ {
		if !s.allow(t0, ratePerSec) {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if s.allow(t0, ratePerSec) {
		t.Fatal("a message past the burst allowed at once")
	}
	if !s.allow(t0.Add(time.Second/ratePerSec), ratePerSec) || s.allow(t0.Add(time.Second/ratePerSec), ratePerSec) {
		t.Fatal("after 1/rate seconds exactly one more message must pass")
	}
	later, got := t0.Add(time.Hour), 0
	for s.allow(later, ratePerSec) {
		got++
	}
	if got != rateBurst {
		t.Fatalf("after an hour %d messages pass, want the burst of %d", got, rateBurst)
	}
}

func TestRejoinAndSameName(t *testing.T) {
	s := startChat(t, "")
	ghost := connect(t, s)
	ghost.join("lobby", "alice")
	back := connect(t, s)
	if j := back.join("lobby", "alice"); !slices.Equal(j.names(), []string{"alice", "alice"}) {
		t.Fatalf("members %v: the returning alice and her ghost", j.Members)
	}
	ghost.c.Close()
	back.await("presence", members("alice"))
	if j := back.join("lobby", "alice"); j.Room != "lobby" || !slices.Equal(j.names(), []string{"alice"}) {
		t.Fatalf("repeated join: %+v", j)
	}
}

func TestPageAndOriginCheck(t *testing.T) {
	s := startChat(t, "")
	resp, err := http.Get("http://" + s.addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "app.js") {
		t.Fatalf("GET /: %d %q", resp.StatusCode, page[:min(len(page), 200)])
	}
	// Another site's page may not open a chat connection in the user's name.
	_, err = wstest.Dial(s.addr(), "/ws", codec.HeaderField{Name: "Origin", Value: "http://evil.example"})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("cross-origin handshake: %v, want a 403 refusal", err)
	}
	c, err := wstest.Dial(s.addr(), "/ws", codec.HeaderField{Name: "Origin", Value: "http://" + s.addr()})
	if err != nil {
		t.Fatalf("same-origin handshake refused: %v", err)
	}
	c.Close()
}

// TestShutdownSendsGoingAway: SIGINT/SIGTERM run stop, and clients get
// close 1001 (going away), which the page answers by reconnecting.
func TestShutdownSendsGoingAway(t *testing.T) {
	s, err := start(config{addr: "127.0.0.1:0", data: t.TempDir(), logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	u := connect(t, s)
	u.join("lobby", "alice")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.stop(ctx)
	}()
	f, err := u.c.ReadFrame()
	for err == nil && f.Op != codec.OpClose {
		f, err = u.c.ReadFrame()
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := codec.ParseClose(f.Payload); code != codec.StatusGoingAway {
		t.Fatalf("close code %v, want 1001", code)
	}
	u.c.WriteFrame(codec.OpClose, true, f.Payload)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
}
