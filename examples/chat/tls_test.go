package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoalws/shoal/internal/testca"
	"github.com/shoalws/shoal/internal/wstest"
)

// The chat over https: the page and /ws on one TLS port, the WebSockets
// decrypted on shoal's shards (shoal.NewTLSListener).

func startTLSChat(t *testing.T) (*service, *testca.CA) {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, config{addr: "127.0.0.1:0", tls: ca.ServerConfig()}), ca
}

// TestTLSPageAndSocket: a client that trusts the test CA gets the page
// over https and chats over wss on the same port.
func TestTLSPageAndSocket(t *testing.T) {
	s, ca := startTLSChat(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig("127.0.0.1")}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + s.addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Fatalf("page: %d %.80q", resp.StatusCode, page)
	}
	c, err := wstest.DialTLS(s.addr(), "/ws", ca.ClientConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u := &user{t: t, c: c, members: memberState{}}
	u.join("secure", "eve")
	u.send(map[string]string{"type": "say", "text": "over tls"})
	u.await("message", func(e event) bool { return e.Text == "over tls" && e.From == "eve" })
	u.send(map[string]string{"type": "leave"})
}

// TestBrowserChatTLS: headless Chromium loads the chat from
// https://127.0.0.1 (the test certificate's errors ignored: the browser
// has no way to trust a CA made a moment ago) and two users chat over
// wss.
func TestBrowserChatTLS(t *testing.T) {
	bin := chromium(t)
	s, _ := startTLSChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	browser := startBrowser(ctx, t, bin, chromedp.Flag("ignore-certificate-errors", true))
	url := "https://" + s.addr() + "/"
	alice := openTab(t, browser, "alice", url)
	bob := openTab(t, browser, "bob", url)
	if scheme := evaluate[string](t, alice, `location.protocol`); scheme != "https:" {
		t.Fatalf("page loaded over %s", scheme)
	}
	join(t, alice, "secure")
	join(t, bob, "secure")
	waitMembers(t, alice, "alice", "bob")
	say(t, alice, "hello over wss")
	waitMessage(t, bob, "alice", "hello over wss")
	// Both WebSockets were moved to the shards, not served by net/http.
	if n := s.srv.Stats().Conns; n != 2 {
		t.Fatalf("%d connections on shoal's shards, want 2", n)
	}
}
