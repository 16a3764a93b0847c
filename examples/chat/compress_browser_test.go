package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserCompression checks, in Chromium, that the page's WebSocket
// negotiated permessage-deflate (the handshake response the browser
// received says so) and that messages long enough to be compressed reach
// the other user.
func TestBrowserCompression(t *testing.T) {
	bin := chromium(t)
	s := startWith(t, config{addr: "127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	browser := startBrowser(ctx, t, bin)
	url := "http://" + s.addr() + "/"

	var mu sync.Mutex
	var offered, accepted []string
	alice := openTab(t, browser, "alice", url)
	err := chromedp.Listen(alice.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventWebSocketWillSendHandshakeRequest:
			offered = append(offered, headerValue(ev.Request.Headers, "Sec-WebSocket-Extensions"))
		case *network.EventWebSocketHandshakeResponseReceived:
			accepted = append(accepted, headerValue(ev.Response.Headers, "Sec-WebSocket-Extensions"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(alice.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	// Load the page again, so that its WebSocket opens with the network
	// domain watching.
	alice.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("join")))
	bob := openTab(t, browser, "bob", url)

	join(t, alice, "lobby")
	join(t, bob, "lobby")
	waitMembers(t, bob, "alice", "bob")
	before := s.srv.Stats().Compressed
	long := strings.TrimSpace(strings.Repeat("compressed on the wire, whole on the page. ", 12))
	say(t, alice, long)
	waitMessage(t, bob, "alice", long)
	waitMessage(t, alice, "alice", long)

	mu.Lock()
	defer mu.Unlock()
	if len(offered) == 0 || !strings.Contains(offered[len(offered)-1], "permessage-deflate") {
		t.Errorf("Chromium offered %q", offered)
	}
	if len(accepted) == 0 || !strings.HasPrefix(accepted[len(accepted)-1], "permessage-deflate") {
		t.Fatalf("the handshake responses Chromium received accept %q", accepted)
	}
	t.Logf("Chromium offered %q; the handshake response says %q", offered[len(offered)-1], accepted[len(accepted)-1])
	if s.srv.Stats().Compressed == before {
		t.Error("the server compressed nothing for a long message to the room")
	}
}

// headerValue finds a header in CDP's map, whose names keep the case the
// server sent.
func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
