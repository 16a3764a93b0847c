package shoal_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// TestAcceptSeesRequest: with Listen, Config.Accept authenticates and
// routes from the request (path, query, header, cookie), refuses with the
// status and body it chooses plus its header fields, and stores the
// connection's value before OnOpen.
func TestAcceptSeesRequest(t *testing.T) {
	opened := make(chan any, 1)
	_, addr := start(t, shoal.Config{
		Accept: func(r *shoal.Request) error {
			if string(r.Path()) != "/rooms" {
				return shoal.Reject(http.StatusNotFound, "no such place")
			}
			user := r.Cookie("session")
			if user == nil {
				user = r.QueryValue("token")
			}
			if string(r.Header("Authorization")) != "Bearer ok" || user == nil {
				r.SetHeader("WWW-Authenticate", `Bearer realm="chat"`)
				return shoal.Reject(http.StatusUnauthorized, "log in first")
			}
			r.SetValue("user:" + string(user))
			r.SetHeader("Set-Cookie", "seen=1")
			return nil
		},
		Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) { opened <- c.Value() }},
	})
	handshake := func(target string, extra ...string) string {
		t.Helper()
		return rawExchange(t, addr, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", target, addr, strings.Join(extra, "")))
	}
	tests := []struct {
		name, target string
		extra        []string
		want         []string
	}{
		{"unknown path", "/nowhere", nil, []string{"HTTP/1.1 404 ", "no such place\n"}},
		{"no credentials", "/rooms", nil, []string{"HTTP/1.1 401 ", "\r\nWWW-Authenticate: Bearer realm=\"chat\"\r\n", "log in first\n"}},
		{"cookie", "/rooms", []string{"Authorization: Bearer ok\r\n", "Cookie: a=b; session=alice\r\n"}, []string{"HTTP/1.1 101 ", "\r\nSet-Cookie: seen=1\r\n"}},
		{"query", "/rooms?token=bob", []string{"Authorization: Bearer ok\r\n"}, []string{"HTTP/1.1 101 "}},
	}
	for _, tt := range tests {
		got := handshake(tt.target, tt.extra...)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: answer lacks %q:\n%s", tt.name, w, got)
			}
		}
	}
	// Two connections, perhaps on two shards: their OnOpens may come in
	// either order.
	seen := map[any]bool{}
	for range 2 {
		select {
		case v := <-opened:
			seen[v] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("OnOpen values so far %v, want user:alice and user:bob", seen)
		}
	}
	if !seen["user:alice"] || !seen["user:bob"] {
		t.Errorf("OnOpen saw values %v, want user:alice and user:bob", seen)
	}
}

// TestAcceptPanicRefuses: an Accept that panics refuses that handshake
// with 500; the shard, and the next handshake, go on.
func TestAcceptPanicRefuses(t *testing.T) {
	_, addr := start(t, shoal.Config{Accept: func(r *shoal.Request) error {
		if r.QueryValue("boom") != nil {
			panic("bug in Accept")
		}
		return nil
	}})
	req := "GET /%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if got := rawExchange(t, addr, fmt.Sprintf(req, "?boom")); !strings.HasPrefix(got, "HTTP/1.1 500 ") {
		t.Fatalf("answer %q, want 500", got)
	}
	roundTrip(t, dial(t, addr), codec.OpText, []byte("still accepting"))
}

// TestSubscribedAtAcceptance: a connection subscribed while its handshake
// is accepted receives what is published after that, even by a
// connection whose OnOpen runs before its own (issue 14: a client that
// connected first missed the second's "joined" notice, 1 run in 5).
func TestSubscribedAtAcceptance(t *testing.T) {
	var srv *shoal.Server
	notice := func(c *shoal.Conn) {
		if c.Value() == "announce" {
			srv.Publish("lobby", shoal.Text, []byte(fmt.Sprint("joined ", c.ID())))
		}
	}
	addrListen := startRef(t, &srv, shoal.Config{
		Accept: func(r *shoal.Request) error {
			r.Subscribe("lobby")
			if r.QueryValue("announce") != nil {
				r.SetValue("announce")
			}
			return nil
		},
		Handler: shoal.HandlerFuncs{Open: notice},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		opts := &shoal.UpgradeOptions{Topics: []string{"lobby"}}
		if r.URL.Query().Has("announce") {
			opts.Value = "announce"
		}
		srv.UpgradeWith(w, r, opts)
	})
	addrHTTP := serveHTTP(t, mux)
	for _, tt := range []struct{ name, addr, path string }{{"Accept", addrListen, "/"}, {"UpgradeWith", addrHTTP, "/ws"}} {
		for i := 0; i < 50; i++ {
			first, err := wstest.Dial(tt.addr, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			second, err := wstest.Dial(tt.addr, tt.path+"?announce=1")
			if err != nil {
				t.Fatal(err)
			}
			// The first reads the second's notice (and no other, since
			// earlier pairs are closed: their notices came before it).
			if _, msg, err := first.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), "joined ") {
				t.Fatalf("%s, run %d: the first connection got %q, %v", tt.name, i, msg, err)
			}
			first.Close()
			second.Close()
		}
	}
}

// TestDialHeader: DialOptions.Header is an http.Header, sent with the
// handshake.
func TestDialHeader(t *testing.T) {
	seen := make(chan string, 1)
	_, addr := start(t, shoal.Config{Accept: func(r *shoal.Request) error {
		seen <- string(r.Header("Authorization")) + "|" + string(r.Header("X-Client"))
		return nil
	}})
	client, err := shoal.New(shoal.Config{Handler: shoal.HandlerFuncs{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Shutdown(context.Background()) })
	h := http.Header{}
	h.Set("Authorization", "Bearer t0k3n")
	h.Set("x-client", "tests")
	if _, err := client.Dial(context.Background(), "ws://"+addr+"/", &shoal.DialOptions{Header: h}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "Bearer t0k3n|tests" {
		t.Fatalf("server saw %q", got)
	}
	bad := http.Header{"Sec-WebSocket-Key": {"x"}}
	if _, err := client.Dial(context.Background(), "ws://"+addr+"/", &shoal.DialOptions{Header: bad}); err == nil {
		t.Fatal("a Dial header that is the handshake's own was sent")
	}
}
