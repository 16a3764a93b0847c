package blocking

import (
	"context"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// coder as its examples use it, compression off as for the others: Read
// and Write for whole messages, Reader and Writer to stream. Every call
// takes a context; the benchmark's is never cancelled.
var coderLib = Lib{
	Name: "coder",
	Handler: func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(MaxMessage)
		ctx := context.Background()
		if r.URL.Path == "/drain" {
			coderDrain(ctx, c)
			return
		}
		for {
			op, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, op, p); err != nil {
				return
			}
		}
	},
	Dial: func(ctx context.Context, url string) (Client, error) {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return nil, err
		}
		c.SetReadLimit(MaxMessage)
		return coderClient{c}, nil
	},
}

func coderDrain(ctx context.Context, c *websocket.Conn) {
	buf := make([]byte, drainBuf)
	for {
		op, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		if op == websocket.MessageText {
			if err := c.Write(ctx, websocket.MessageText, nil); err != nil {
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

type coderClient struct{ c *websocket.Conn }

func (k coderClient) RoundTrip(p []byte) ([]byte, error) {
	ctx := context.Background()
	if err := k.c.Write(ctx, websocket.MessageBinary, p); err != nil {
		return nil, err
	}
	_, b, err := k.c.Read(ctx)
	return b, err
}

func (k coderClient) Stream(p []byte, chunk int) error {
	w, err := k.c.Writer(context.Background(), websocket.MessageBinary)
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

func (k coderClient) Sync() error {
	ctx := context.Background()
	if err := k.c.Write(ctx, websocket.MessageText, nil); err != nil {
		return err
	}
	_, _, err := k.c.Read(ctx)
	return err
}

func (k coderClient) Close() error { return k.c.Close(websocket.StatusNormalClosure, "") }
