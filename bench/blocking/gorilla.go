package blocking

import (
	"context"
	"io"
	"net/http"

	"github.com/gorilla/websocket"
)

// gorilla as its examples use it: default 4 KiB buffers, ReadMessage and
// WriteMessage for whole messages, NextReader and NextWriter to stream.
var gorillaLib = Lib{
	Name: "gorilla",
	Handler: func(w http.ResponseWriter, r *http.Request) {
		var up websocket.Upgrader
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(MaxMessage)
		if r.URL.Path == "/drain" {
			gorillaDrain(c)
			return
		}
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	},
	Dial: func(ctx context.Context, url string) (Client, error) {
		c, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		c.SetReadLimit(MaxMessage)
		return gorillaClient{c}, nil
	},
}

func gorillaDrain(c *websocket.Conn) {
	buf := make([]byte, drainBuf)
	for {
		op, r, err := c.NextReader()
		if err != nil {
			return
		}
		if op == websocket.TextMessage {
			if err := c.WriteMessage(websocket.TextMessage, nil); err != nil {
				return
			}
			continue
		}
		for err == nil {
			_, err = r.Read(buf)
		}
		if err != io.EOF {
			return
		}
	}
}

type gorillaClient struct{ c *websocket.Conn }

func (g gorillaClient) RoundTrip(p []byte) ([]byte, error) {
	if err := g.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return nil, err
	}
	_, b, err := g.c.ReadMessage()
	return b, err
}

func (g gorillaClient) Stream(p []byte, chunk int) error {
	w, err := g.c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	for ; len(p) > 0; p = p[min(chunk, len(p)):] {
		if _, err := w.Write(p[:min(chunk, len(p))]); err != nil {
			return err
		}
	}
	return w.Close()
}

func (g gorillaClient) Sync() error {
	if err := g.c.WriteMessage(websocket.TextMessage, nil); err != nil {
		return err
	}
	_, _, err := g.c.ReadMessage()
	return err
}

func (g gorillaClient) Close() error {
	g.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	return g.c.Close()
}
