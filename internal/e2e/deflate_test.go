package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/internal/chatjson"
)

// permessage-deflate seen by independent implementations: gorilla and
// coder/websocket as clients of shoal, gorilla as a server shoal dials,
// and Python's websockets (whose zlib holds the server to the window it
// announced).

// compressionConfigs are the server settings each client is tried with.
var compressionConfigs = []shoal.Compression{
	{Enabled: true},
	{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, WindowBits: 10},
	{Enabled: true, Level: 9, Threshold: -1, ClientContextTakeover: true, WindowBits: 15},
}

// interopMessages are chat messages and a few larger ones, text and
// binary.
func interopMessages() [][]byte {
	msgs := chatjson.Messages(31, 60)
	msgs = append(msgs, bytes.Repeat([]byte(`{"k":"v"},`), 30000), payload(200<<10), []byte("x"), nil)
	return msgs
}

func TestGorillaClientCompression(t *testing.T) {
	for _, cc := range compressionConfigs {
		t.Run(fmt.Sprintf("%+v", cc), func(t *testing.T) {
			_, url := startShoal(t, shoal.Config{Compression: cc})
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, EnableCompression: true}
			c, resp, err := d.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
				t.Fatalf("Sec-WebSocket-Extensions: %q", ext)
			}
			c.SetReadLimit(32 << 20)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for i, m := range interopMessages() {
				typ := websocket.TextMessage
				if i%2 == 1 {
					typ = websocket.BinaryMessage
				}
				if err := c.WriteMessage(typ, m); err != nil {
					t.Fatal(err)
				}
				gotType, got, err := c.ReadMessage()
				if err != nil || gotType != typ || !bytes.Equal(got, m) {
					t.Fatalf("message %d (%d bytes): type %d, %d bytes, %v", i, len(m), gotType, len(got), err)
				}
			}
		})
	}
}

func TestCoderClientCompression(t *testing.T) {
	for _, cc := range compressionConfigs {
		for _, mode := range []coder.CompressionMode{coder.CompressionNoContextTakeover, coder.CompressionContextTakeover} {
			t.Run(fmt.Sprintf("%+v/mode%d", cc, mode), func(t *testing.T) {
				_, url := startShoal(t, shoal.Config{Compression: cc})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
					t.Fatalf("Sec-WebSocket-Extensions: %q", ext)
				}
				c.SetReadLimit(32 << 20)
				for i, m := range interopMessages() {
					typ := coder.MessageText
					if i%2 == 1 {
						typ = coder.MessageBinary
					}
					if err := c.Write(ctx, typ, m); err != nil {
						t.Fatal(err)
					}
					gotType, got, err := c.Read(ctx)
					if err != nil || gotType != typ || !bytes.Equal(got, m) {
						t.Fatalf("message %d (%d bytes): %v, %d bytes, %v", i, len(m), gotType, len(got), err)
					}
				}
				if err := c.Close(coder.StatusNormalClosure, ""); err != nil {
					t.Fatalf("close handshake: %v", err)
				}
			})
		}
	}
}

// TestDialGorillaCompression: shoal's client role against gorilla's
// server, which supports no context takeover only.
func TestDialGorillaCompression(t *testing.T) {
	addr := startGorillaEcho(t, true)
	got := make(chan []byte, 100)
	srv, err := shoal.New(shoal.Config{
		Compression: shoal.Compression{Enabled: true, Threshold: -1},
		Handler: shoal.HandlerFuncs{Message: func(c *shoal.Conn, m shoal.Message) {
			got <- bytes.Clone(m.Data)
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	c, err := srv.Dial(context.Background(), "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Compressing() {
		t.Fatal("gorilla's server did not negotiate compression")
	}
	for i, m := range interopMessages() {
		if err := c.Send(shoal.Binary, m); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if !bytes.Equal(g, m) {
				t.Fatalf("echo %d: %d bytes, want %d", i, len(g), len(m))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("echo %d never came", i)
		}
	}
}

// pythonWithWebsockets finds a Python that has the websockets package:
// Debian's (python3-websockets) first, whatever is on PATH otherwise.
func pythonWithWebsockets(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import websockets").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Python with the websockets package (apt-get install python3-websockets)")
	}
	t.Skip("no Python with the websockets package (apt-get install python3-websockets)")
	return ""
}

func TestPythonWebsocketsCompression(t *testing.T) {
	py := pythonWithWebsockets(t)
	for _, tc := range []struct {
		cc         shoal.Compression
		serverBits string // what the client asks of the server's window; "" for nothing
		want       string // the accepted extension
	}{
		{shoal.Compression{Enabled: true}, "",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{shoal.Compression{Enabled: true}, "9",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},
		{shoal.Compression{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, WindowBits: 10}, "",
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
		{shoal.Compression{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, WindowBits: 12}, "9",
			"permessage-deflate; server_max_window_bits=9; client_max_window_bits=12"},
	} {
		t.Run(fmt.Sprintf("%+v/%s", tc.cc, tc.serverBits), func(t *testing.T) {
			_, url := startShoal(t, shoal.Config{Compression: tc.cc})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := []string{"testdata/pmd_client.py", url}
			if tc.serverBits != "" {
				args = append(args, tc.serverBits)
			}
			out, err := exec.CommandContext(ctx, py, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), "negotiated: "+tc.want+"\n") || !strings.Contains(string(out), "echoed: 28") {
				t.Fatalf("want %q negotiated and 28 echoes:\n%s", tc.want, out)
			}
		})
	}
}
