package stream_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// startShoal runs a reactor Server on a loopback port for the test.
func startShoal(t *testing.T, cfg shoal.Config) (*shoal.Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Shards = 2
	srv, err := shoal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, "ws://" + addr.String() + "/"
}

// TestAgainstShoalServer: a stream client and the reactor Server, in
// both close directions: messages of every boundary size, one streamed
// in fragments, and close codes seen by each side.
func TestAgainstShoalServer(t *testing.T) {
	closes := make(chan error, 2)
	_, url := startShoal(t, shoal.Config{
		MaxMessageSize: 4 << 20,
		MaxOutbound:    5 << 20,
		Handler: shoal.HandlerFuncs{
			Message: func(c *shoal.Conn, m shoal.Message) {
				if string(m.Data) == "close me" {
					c.Close(4000, "as you wish")
					return
				}
				c.Send(m.Type, m.Data)
			},
			Close: func(c *shoal.Conn, err error) { closes <- err },
		},
	})
	opts := &stream.Options{MaxMessageSize: 4 << 20}
	c := dial(t, url, opts)
	for _, n := range sizes {
		if err := c.WriteMessage(codec.OpBinary, payload(n)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || !bytes.Equal(p, payload(n)) {
			t.Fatalf("%d bytes: %d back, %v", n, len(p), err)
		}
	}
	w, _ := c.NextWriter(codec.OpText)
	for range 3 << 10 {
		w.Write(payload(1 << 10))
	}
	w.Close()
	if _, p, err := c.ReadMessage(); err != nil || len(p) != 3<<20 {
		t.Fatalf("streamed 3 MiB: %d back, %v", len(p), err)
	}
	if err := c.CloseWith(4001, "client done"); err != nil {
		t.Fatal(err)
	}
	var ce *codec.CloseError
	if err := <-closes; !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "client done" {
		t.Errorf("shoal's OnClose: %v", err)
	}

	c = dial(t, url, nil)
	c.WriteMessage(codec.OpText, []byte("close me"))
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "as you wish" {
		t.Errorf("client read: %v", err)
	}
	if err := <-closes; !errors.As(err, &ce) || ce.Code != 4000 {
		t.Errorf("shoal's OnClose after its own close: %v", err)
	}
}

// TestShoalServerDials: the reactor's client role (Server.Dial) talking
// to a stream server behind net/http.
func TestShoalServerDials(t *testing.T) {
	url := serveHTTP(t, nil, echo)
	got := make(chan string, 10)
	srv, _ := startShoal(t, shoal.Config{
		Handler: shoal.HandlerFuncs{
			Open:    func(c *shoal.Conn) { c.Send(shoal.Text, []byte("from the reactor")) },
			Message: func(c *shoal.Conn, m shoal.Message) { got <- string(m.Data) },
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := srv.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "from the reactor" {
		t.Fatalf("echo %q", m)
	}
	big := string(payload(200 << 10))
	sc.Send(shoal.Binary, []byte(big))
	if m := <-got; m != big {
		t.Fatalf("echo of 200 KiB: %d bytes", len(m))
	}
}
