package shoal_test

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/chatjson"
	"github.com/shoalws/shoal/internal/wstest"
)

// browserOffer is what browsers offer.
var browserOffer = codec.DeflateParams{ClientMaxWindowBits: 15}

func dialDeflate(t *testing.T, addr, target string) *wstest.Client {
	t.Helper()
	c, err := wstest.DialDeflate(addr, target, browserOffer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readCompressed reads one whole unfragmented data frame and returns
// whether it came compressed and what it inflates to.
func readCompressed(t *testing.T, c *wstest.Client) (codec.Opcode, []byte, bool) {
	t.Helper()
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Op.IsControl() {
			continue
		}
		if !f.Fin {
			t.Fatal("a fragmented message")
		}
		if f.Rsv&codec.Rsv1 == 0 {
			return f.Op, f.Payload, false
		}
		msg, err := wstest.Inflate(f.Payload, nil)
		if err != nil {
			t.Fatalf("the server's compressed message does not inflate with no context: %v", err)
		}
		return f.Op, msg, true
	}
}

// Both ways a server takes a connection over, and both sides' choices:
// the browser's offer is answered with no context either way, a message
// over the threshold comes back compressed, a short one plain.
func TestCompressionEcho(t *testing.T) {
	cfg := shoal.Config{Handler: echo(), Compression: shoal.Compression{Enabled: true}}
	var srv *shoal.Server
	shardAddr := startRef(t, &srv, cfg)
	httpAddr := serveHTTP(t, httpMux(t, srv))
	for _, path := range []struct{ name, addr, target string }{{"shard", shardAddr, "/"}, {"net/http", httpAddr, "/ws"}} {
		t.Run(path.name, func(t *testing.T) {
			c := dialDeflate(t, path.addr, path.target)
			want := codec.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
			if c.Deflate == nil || *c.Deflate != want {
				t.Fatalf("accepted %+v, want %+v", c.Deflate, want)
			}
			for i, m := range chatjson.Messages(21, 10) {
				if err := c.WriteRaw(wstest.BuildCompressed(codec.OpText, m)); err != nil {
					t.Fatal(err)
				}
				op, got, compressed := readCompressed(t, c)
				if op != codec.OpText || !bytes.Equal(got, m) || !compressed {
					t.Fatalf("message %d: %v, %d bytes, compressed %v", i, op, len(got), compressed)
				}
			}
			for _, m := range [][]byte{[]byte("short and plain"), wstest.Compress([]byte("short, compressed"))} {
				var err error
				if bytes.HasPrefix(m, []byte("short")) {
					err = c.WriteFrame(codec.OpBinary, true, m)
				} else {
					err = c.WriteRaw(wstest.BuildCompressed(codec.OpBinary, []byte("short, compressed")))
					m = []byte("short, compressed")
				}
				if err != nil {
					t.Fatal(err)
				}
				if op, got, compressed := readCompressed(t, c); op != codec.OpBinary || !bytes.Equal(got, m) || compressed {
					t.Fatalf("%q: %v %q, compressed %v; want it plain, under the threshold", m, op, got, compressed)
				}
			}
		})
	}
	if st := srv.Stats(); st.Compressed < 20 {
		t.Errorf("Stats.Compressed = %d after 20 compressed echoes", st.Compressed)
	}
}

// A server without compression declines the offer, and RSV1 is then a
// protocol error.
func TestCompressionOff(t *testing.T) {
	_, addr := start(t, shoal.Config{Handler: echo()})
	c := dialDeflate(t, addr, "/")
	if c.Deflate != nil {
		t.Fatalf("accepted %+v", c.Deflate)
	}
	c.WriteRaw(wstest.BuildCompressed(codec.OpText, []byte("hello")))
	if code, err := c.ExpectClose(); code != codec.StatusProtocolError || err != nil {
		t.Fatalf("close %v, %v; want 1002", code, err)
	}
}

// A published message is compressed once, and the same compressed frame
// reaches every subscriber that negotiated compression; the others get
// the plain frame.
func TestPublishCompressedOnce(t *testing.T) {
	var srv *shoal.Server
	var mu sync.Mutex
	joined := 0
	addr := startRef(t, &srv, shoal.Config{
		Shards:      2,
		Compression: shoal.Compression{Enabled: true},
		Handler: shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
			srv.Subscribe(c, "room")
			c.Send(shoal.Text, []byte("joined"))
			mu.Lock()
			joined++
			mu.Unlock()
		}},
	})
	var clients []*wstest.Client
	for i := range 30 {
		var c *wstest.Client
		if i%3 == 0 {
			c = dial(t, addr)
		} else {
			c = dialDeflate(t, addr, "/")
		}
		c.WriteFrame(codec.OpText, true, []byte("join"))
		if _, m, _ := readCompressed(t, c); string(m) != "joined" {
			t.Fatalf("join answered %q", m)
		}
		clients = append(clients, c)
	}
	msg := chatjson.Messages(22, 1)[0]
	before := srv.Stats().Compressed
	for _, publish := range []func() error{
		func() error { return srv.Publish("room", shoal.Text, msg) },
		func() error { return srv.Broadcast(shoal.Text, msg) },
	} {
		if err := publish(); err != nil {
			t.Fatal(err)
		}
		var shared []byte
		for i, c := range clients {
			f, err := c.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			compressed := f.Rsv&codec.Rsv1 != 0
			if compressed != (c.Deflate != nil) {
				t.Fatalf("client %d (deflate %v) got compressed %v", i, c.Deflate != nil, compressed)
			}
			if !compressed {
				if !bytes.Equal(f.Payload, msg) {
					t.Fatalf("client %d: plain frame differs", i)
				}
				continue
			}
			if shared == nil {
				shared = f.Payload
				if got, err := wstest.Inflate(shared, nil); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("the compressed frame: %v", err)
				}
			} else if !bytes.Equal(f.Payload, shared) {
				t.Fatalf("client %d got a compressed frame unlike the others'", i)
			}
		}
	}
	if n := srv.Stats().Compressed - before; n != 2 {
		t.Errorf("one publish and one broadcast to 20 compressing subscribers compressed %d times, want 2", n)
	}
}

// Dial offers compression and a dialed connection compresses both ways,
// with and without context takeover on either side.
func TestDialCompression(t *testing.T) {
	for _, cc := range []shoal.Compression{
		{Enabled: true},
		{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, WindowBits: 9},
		{Enabled: true, ClientContextTakeover: true, WindowBits: 15, Threshold: -1},
	} {
		t.Run(fmt.Sprintf("%+v", cc), func(t *testing.T) {
			_, addr := start(t, shoal.Config{Handler: echo(), Compression: cc})
			got := make(chan []byte, 100)
			client, err := shoal.New(shoal.Config{
				Compression: cc,
				Handler: shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
					got <- bytes.Clone(m.Data)
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Shutdown(context.Background())
			c, err := client.Dial(context.Background(), "ws://"+addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Compressing() {
				t.Fatal("compression not negotiated")
			}
			msgs := chatjson.Messages(23, 40)
			for _, m := range msgs {
				if err := c.Send(shoal.Text, m); err != nil {
					t.Fatal(err)
				}
			}
			for i, m := range msgs {
				select {
				case g := <-got:
					if !bytes.Equal(g, m) {
						t.Fatalf("echo %d differs", i)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("echo %d never came", i)
				}
			}
			if client.Stats().Compressed < uint64(len(msgs)) {
				t.Errorf("the client compressed %d of %d messages", client.Stats().Compressed, len(msgs))
			}
		})
	}
}

// A small message that inflates past MaxMessageSize closes its connection
// with 1009, and the server serves the others meanwhile.
func TestCompressionBomb(t *testing.T) {
	_, addr := start(t, shoal.Config{Handler: echo(), MaxMessageSize: 1 << 20, Compression: shoal.Compression{Enabled: true}})
	other := dialDeflate(t, addr, "/")
	bomb := wstest.BuildCompressed(codec.OpBinary, make([]byte, 256<<20))
	if len(bomb) > 512<<10 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	for range 3 {
		c := dialDeflate(t, addr, "/")
		c.WriteRaw(bomb)
		if code, err := c.ExpectClose(); code != codec.StatusTooBig || err != nil {
			t.Fatalf("close %v, %v; want 1009", code, err)
		}
		roundTrip(t, other, codec.OpText, []byte("still here"))
	}
}

// A message compressed by a client whose context the server keeps is
// inflated with that context; one that refers past the window it was
// told fails the connection as corrupt data (1007), not silently.
func TestCompressionClientContext(t *testing.T) {
	_, addr := start(t, shoal.Config{Handler: echo(),
		Compression: shoal.Compression{Enabled: true, ClientContextTakeover: true, WindowBits: 12}})
	c := dialDeflate(t, addr, "/")
	if c.Deflate == nil || c.Deflate.ClientNoContextTakeover || c.Deflate.ClientMaxWindowBits != 12 {
		t.Fatalf("accepted %+v", c.Deflate)
	}
	m := chatjson.Messages(24, 1)[0]
	c.WriteRaw(wstest.BuildCompressed(codec.OpText, m))
	if _, got, _ := readCompressed(t, c); !bytes.Equal(got, m) {
		t.Fatal("first echo differs")
	}
	// The same message again, compressed with the first as context.
	var dictFrame []byte
	{
		p, err := compressWithDict(m, m)
		if err != nil {
			t.Fatal(err)
		}
		h := codec.Header{Fin: true, Rsv: codec.Rsv1, Op: codec.OpText, Masked: true, Mask: wstest.Mask()}
		dictFrame = codec.AppendFrame(nil, h, p)
	}
	c.WriteRaw(dictFrame)
	if _, got, _ := readCompressed(t, c); !bytes.Equal(got, m) {
		t.Fatal("the echo of a message compressed with context differs")
	}
	// A fresh connection has no context: the same frame is corrupt there.
	fresh := dialDeflate(t, addr, "/")
	fresh.WriteRaw(dictFrame)
	if code, err := fresh.ExpectClose(); code != codec.StatusInvalidData || err != nil {
		t.Fatalf("close %v, %v; want 1007", code, err)
	}
}

func compressWithDict(msg, dict []byte) ([]byte, error) {
	var out bytes.Buffer
	w, err := newDictWriter(&out, dict)
	if err != nil {
		return nil, err
	}
	w.Write(msg)
	w.Flush()
	if out.Len() < 4 {
		return nil, errors.New("no sync flush")
	}
	return out.Bytes()[:out.Len()-4], nil
}

func newDictWriter(w *bytes.Buffer, dict []byte) (*flate.Writer, error) {
	return flate.NewWriterDict(w, flate.DefaultCompression, dict) // level 1 ignores a dictionary
}
