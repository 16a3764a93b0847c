package blocking

import (
	"context"
	"io"
	"net/http"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

var streamOptions = &stream.Options{MaxMessageSize: MaxMessage}

var streamLib = Lib{
	Name: "stream",
	Handler: func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Accept(w, r, streamOptions)
		if err != nil {
			return
		}
		defer c.Close()
		if r.URL.Path == "/drain" {
			streamDrain(c)
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
		c, err := stream.Dial(ctx, url, streamOptions)
		if err != nil {
			return nil, err
		}
		return streamClient{c}, nil
	},
}

func streamDrain(c *stream.Conn) {
	buf := make([]byte, drainBuf)
	for {
		op, r, err := c.NextReader()
		if err != nil {
			return
		}
		if op == codec.OpText {
			if err := c.WriteMessage(codec.OpText, nil); err != nil {
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

type streamClient struct{ c *stream.Conn }

func (s streamClient) RoundTrip(p []byte) ([]byte, error) {
	if err := s.c.WriteMessage(codec.OpBinary, p); err != nil {
		return nil, err
	}
	_, b, err := s.c.ReadMessage()
	return b, err
}

func (s streamClient) Stream(p []byte, chunk int) error {
	w, err := s.c.NextWriter(codec.OpBinary)
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

func (s streamClient) Sync() error {
	if err := s.c.WriteMessage(codec.OpText, nil); err != nil {
		return err
	}
	_, _, err := s.c.ReadMessage()
	return err
}

func (s streamClient) Close() error { return s.c.Close() }
