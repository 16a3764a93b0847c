package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/shoalws/shoal"
)

// The browser test runs the real page (index.html, app.js) in headless
// Chromium against an in-process chat service: what the protocol tests in
// chat_test.go cannot see, such as how app.js renders what others send.

const (
	browserTimeout = 90 * time.Second // the whole test, browser start included
	waitTimeout    = 10 * time.Second // one action, or one wait for a page to catch up

	// Scripts that read what a user sees.
	membersJS  = `[...document.querySelectorAll('#members li')].map(e => e.textContent)`
	messagesJS = `[...document.querySelectorAll('#messages li.msg')].map(li => ({
		from: li.querySelector('.from')?.textContent ?? '',
		text: li.querySelector('.text')?.textContent ?? '',
	}))`
	roomTitleJS = `document.getElementById('room-title').textContent`
	meJS        = `[...document.querySelectorAll('#members li.me')].map(e => e.textContent)`
	errorJS     = `document.getElementById('error-box').hidden ? '' : document.getElementById('error').textContent`

	// hooksJS runs in every page before its own script: it records
	// Content-Security-Policy violations and counts WebSocket attempts.
	hooksJS = `
		window.__csp = [];
		document.addEventListener('securitypolicyviolation', (e) => __csp.push(e.violatedDirective + ' ' + e.blockedURI));
		window.__sockets = 0;
		const WS = window.WebSocket;
		window.WebSocket = class extends WS { constructor(...a) { super(...a); window.__sockets++; } };`
)

func TestBrowserChat(t *testing.T) {
	bin := chromium(t)
	// Its cleanup is registered before the browser's, so it runs after:
	// the browsers close before the server stops.
	s := startWith(t, config{addr: "127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	browser := startBrowser(ctx, t, bin)
	url := "http://" + s.addr() + "/"
	alice := openTab(t, browser, "alice", url)
	bob := openTab(t, browser, "bob", url)

	join(t, alice, "lobby")
	join(t, bob, "lobby")
	waitMembers(t, alice, "alice", "bob")
	waitMembers(t, bob, "alice", "bob")

	const hello = "hello from alice"
	say(t, alice, hello)
	waitMessage(t, bob, "alice", hello)

	// Markup from another user must show as text: no element made of it,
	// no script run (openTab fails the test on any dialog).
	const hostile = `<script>alert(1)</script><b>bold</b>`
	say(t, bob, hostile)
	waitMessage(t, alice, "bob", hostile)
	if n := evaluate[int](t, alice, `document.querySelectorAll('#messages b').length`); n != 0 {
		t.Errorf("alice's page made %d <b> elements of bob's text", n)
	}

	bob.do(t, chromedp.SendKeys(chromedp.ID("switch-room"), "kitchen"), chromedp.Click(chromedp.ID("switch")))
	waitFor(t, bob, "room title kitchen", roomTitleJS, func(title string) bool { return title == "kitchen" })
	waitMembers(t, bob, "bob")
	waitMembers(t, alice, "alice")

	saveScreenshot(t, alice)
	noCSPViolations(t, alice, bob)
}

// TestBrowserReconnect: what the page does when its connection drops and
// when the server restarts (issue 14, point 9). Two users named alice
// each see "(you)" on their own entry only; a dropped connection is
// marked once, however many attempts fail; after it, the page keeps
// what it showed, marks the reconnect and adds exactly what it missed;
// the "Not connected" error goes when the page is back; a reload returns
// to the room the tab was in.
func TestBrowserReconnect(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	s := startWith(t, config{addr: "127.0.0.1:0", data: dir})
	addr := s.addr()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	browser := startBrowser(ctx, t, bin)
	url := "http://" + addr + "/"
	alice, alice2, bob := openTab(t, browser, "alice", url), openTab(t, browser, "alice", url), openTab(t, browser, "bob", url)
	for _, p := range []*tab{alice, alice2, bob} {
		join(t, p, "lobby")
	}
	for _, p := range []*tab{alice, alice2, bob} {
		waitMembers(t, p, "alice", "alice", "bob")
		if me := evaluate[[]string](t, p, meJS); !slices.Equal(me, []string{p.user}) {
			t.Fatalf("%s's page marks %v as (you), want one entry", p.user, me)
		}
	}
	meAlice := evaluate[string](t, alice, `document.querySelector('#members li.me').dataset.id`)
	meAlice2 := evaluate[string](t, alice2, `document.querySelector('#members li.me').dataset.id`)
	if meAlice == meAlice2 {
		t.Fatalf("both alices' pages mark the same entry (%s) as theirs", meAlice)
	}

	// Alice's connection drops (the server closes it); bob talks while
	// her page waits to reconnect. She gets the gap from the history,
	// after a marker, each message once.
	say(t, bob, "one")
	waitMessage(t, alice, "bob", "one")
	if !s.app.closeMember("lobby", meAlice) {
		t.Fatal("alice's connection not found on the server")
	}
	say(t, bob, "two")
	say(t, bob, "three")
	waitFor(t, alice, "the reconnect marker", `document.querySelectorAll('#messages .reconnected').length`, func(n int) bool { return n == 1 })
	want := []shownMessage{{"bob", "one"}, {"bob", "two"}, {"bob", "three"}}
	waitFor(t, alice, fmt.Sprint("messages ", want), messagesJS, func(msgs []shownMessage) bool { return slices.Equal(msgs, want) })

	// The server stops. The loss is marked once, however many attempts
	// fail; a message typed meanwhile is refused with "Not connected".
	before := evaluate[int](t, alice, `window.__sockets`)
	stopNode(t, s)
	waitFor(t, alice, "two failed reconnects", `window.__sockets`, func(n int) bool { return n >= before+2 })
	if n := evaluate[int](t, alice, `document.querySelectorAll('#messages .lost').length`); n != 2 {
		t.Fatalf("%d 'Connection lost.' lines after two outages, want 2 (one each)", n)
	}
	say(t, alice, "into the void")
	waitFor(t, alice, "the Not connected error", errorJS, func(e string) bool { return strings.HasPrefix(e, "Not connected") })

	// It comes back on the same address, with the same store. The page
	// rejoins, keeps its messages, marks the reconnect, and the error goes.
	startWith(t, config{addr: addr, data: dir})
	waitFor(t, alice, "the second reconnect marker", `document.querySelectorAll('#messages .reconnected').length`, func(n int) bool { return n == 2 })
	if e := evaluate[string](t, alice, errorJS); e != "" {
		t.Fatalf("error still shown after the reconnect: %q", e)
	}
	if msgs := evaluate[[]shownMessage](t, alice, messagesJS); !slices.Equal(msgs, want) {
		t.Fatalf("after the restart alice's page shows %v, want %v", msgs, want)
	}
	waitMembers(t, alice, "alice", "alice", "bob")
	// What she typed during the outage is still in the composer.
	alice.do(t, chromedp.Click(chromedp.ID("send")))
	waitMessage(t, bob, "alice", "into the void")

	// A reload returns to the tab's room, not to the lobby.
	bob.do(t, chromedp.SendKeys(chromedp.ID("switch-room"), "kitchen"), chromedp.Click(chromedp.ID("switch")))
	waitFor(t, bob, "room title kitchen", roomTitleJS, func(title string) bool { return title == "kitchen" })
	bob.do(t, chromedp.Reload())
	waitFor(t, bob, "room title kitchen after the reload", roomTitleJS, func(title string) bool { return title == "kitchen" })
	waitMembers(t, bob, "bob")
	noCSPViolations(t, alice, alice2, bob)
}

// noCSPViolations checks that the pages ran under their
// Content-Security-Policy without anything being blocked.
func noCSPViolations(t *testing.T, tabs ...*tab) {
	t.Helper()
	for _, p := range tabs {
		if v := evaluate[[]string](t, p, `window.__csp`); len(v) > 0 {
			t.Errorf("%s's page: Content-Security-Policy blocked %v", p.user, v)
		}
	}
}

// chromium finds the browser. Without one the test skips, so that a new
// contributor still gets a green run, except in CI, which must install it
// (.ci/run does) and never silently skip.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no chromium in PATH; install it to run the browser test (Debian, Ubuntu: apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run this test: see .ci/run")
	}
	t.Skip(msg)
	return ""
}

// startBrowser starts headless Chromium for the test, with extra flags if
// any. Its life is bound to ctx, so a test that overruns browserTimeout
// kills it.
func startBrowser(ctx context.Context, t *testing.T, bin string, extra ...chromedp.ExecAllocatorOption) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.WindowSize(1200, 800),
		// Chromium's sandbox refuses to run as root, as CI does; and
		// test machines have no GPU.
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		// The test machine refuses outside connections: keep Chromium
		// from trying any, so none can stall or fail the test.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() }) // both wait for the browser to exit
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return browser
}

type tab struct { // one user's page
	ctx  context.Context
	user string
}

// openTab opens url for user in a tab of a browser context of its own:
// the users share no storage, as on two machines (the page remembers the
// last name in localStorage). Any JavaScript dialog fails the test.
func openTab(t *testing.T, browser context.Context, user, url string) *tab {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening) // opens the tab
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range dialogs { // ends with the tab's context
			if err != nil {
				return
			}
			t.Errorf("%s's page opened a JavaScript %s dialog: %q", user, ev.Type, ev.Message)
			// Dismiss it: an open dialog blocks the page, and every
			// later wait would time out.
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	p := &tab{ctx, user}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hooksJS}); err != nil {
		t.Fatalf("%s's page: %v", user, err)
	}
	p.do(t, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("join")))
	return p
}

// do runs actions on the page, each step bounded by waitTimeout.
func (p *tab) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for _, a := range actions {
		ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			t.Fatalf("%s's page: %v", p.user, err)
		}
	}
}

// evaluate returns the value of js on the page.
func evaluate[T any](t *testing.T, p *tab, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s's page: %s: %v", p.user, js, err)
	}
	return v
}

// waitFor evaluates js on the page until ok accepts its value, and returns
// that value. The page changes on its own (WebSocket messages, a 200 ms
// presence delay), so it polls rather than checks once.
func waitFor[T any](t *testing.T, p *tab, what, js string, ok func(T) bool) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
		if err == nil && ok(v) {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s's page: waiting for %s: last saw %+v (error %v)", p.user, what, v, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// join fills the join form as the tab's user.
func join(t *testing.T, p *tab, room string) {
	t.Helper()
	p.do(t, fill("name", p.user), fill("room", room), chromedp.Click(chromedp.ID("join")))
	waitFor(t, p, "room title "+room, roomTitleJS, func(title string) bool { return title == room })
}

// fill types text into the input with the id, emptied first: the form
// comes filled in (room "lobby", the last name used). Not SetValue(sel, ""):
// chromedp v0.23.0 drops an empty string argument, so the input would get
// "undefined".
func fill(id, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ''`, id)),
		chromedp.SendKeys(chromedp.ID(id), text),
	)
}

// say types text into the composer and sends it.
func say(t *testing.T, p *tab, text string) {
	t.Helper()
	p.do(t, chromedp.SendKeys(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send")))
}

// waitMembers waits until the member list is exactly want, in order.
func waitMembers(t *testing.T, p *tab, want ...string) {
	t.Helper()
	waitFor(t, p, "members "+fmt.Sprint(want), membersJS, func(names []string) bool { return slices.Equal(names, want) })
}

type shownMessage struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// waitMessage waits until the page shows a message from with exactly text.
func waitMessage(t *testing.T, p *tab, from, text string) {
	t.Helper()
	want := shownMessage{from, text}
	waitFor(t, p, fmt.Sprintf("message %+v", want), messagesJS, func(msgs []shownMessage) bool {
		return slices.Contains(msgs, want)
	})
}

// saveScreenshot writes a full-page PNG of the tab to $SHOAL_ARTIFACTS,
// where CI can keep it, or else to a temporary directory.
func saveScreenshot(t *testing.T, p *tab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if err != nil {
		t.Fatalf("screenshot of %s's page: %v", p.user, err)
	}
	dir := os.Getenv("SHOAL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "chat-browser-"+p.user+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s's page: %s", p.user, path)
}

// closeMember closes the connection of the member with id in room, as a
// network failure would (tests).
func (a *app) closeMember(room, id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.rooms[room]; r != nil {
		for c, m := range r.members {
			if m.ID == id {
				c.Close(shoal.StatusCode(1011), "test: connection dropped")
				return true
			}
		}
	}
	return false
}
