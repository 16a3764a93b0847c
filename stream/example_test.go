package stream_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// A blocking client talks to shoal's reactor Server, the nonblocking
// mode: the Server holds its connections without a goroutine each and
// runs a handler per message; the stream.Conn is driven by the goroutine
// that calls it. On the wire both are plain RFC 6455.
func ExampleDial_shoalServer() {
	srv, err := shoal.New(shoal.Config{
		Addr: "127.0.0.1:0",
		Handler: shoal.HandlerFuncs{
			Message: func(c *shoal.Conn, m shoal.Message) {
				c.Send(m.Type, []byte(strings.ToUpper(string(m.Data))))
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c, err := stream.Dial(context.Background(), "ws://"+addr.String()+"/", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, word := range []string{"hello", "reactor"} {
		if err := c.WriteMessage(codec.OpText, []byte(word)); err != nil {
			log.Fatal(err)
		}
		_, p, err := c.ReadMessage()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(p))
	}
	// Output:
	// HELLO
	// REACTOR
}

// An echo server on net/http: Accept takes the connection over, and the
// handler's goroutine serves it with blocking calls until the client
// closes.
func ExampleAccept() {
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered the client
		}
		defer c.Close()
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return // the close handshake is done, or the peer failed it
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}

// A tunnel's exit: bytes from a WebSocket client go to a TCP service and
// the service's answers go back, with io.Copy both ways. A stream.Conn is
// a net.Conn whose Write sends a binary message and whose Read returns
// message payloads as one stream.
func ExampleConn_tunnel() {
	http.HandleFunc("/tunnel", func(w http.ResponseWriter, r *http.Request) {
		ws, err := stream.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		tcp, err := net.Dial("tcp", "127.0.0.1:5432")
		if err != nil {
			ws.CloseWith(codec.StatusBadGateway, "upstream unreachable")
			return
		}
		defer tcp.Close()
		go io.Copy(ws, tcp)
		io.Copy(tcp, ws) // ends with the client's close
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}

// A message too large to hold is written and read a piece at a time.
// The reader holds none of it, so it can raise the message size limit
// (1 MiB by default) at no cost in memory.
func ExampleConn_NextWriter() {
	url := serveExample(&stream.Options{MaxMessageSize: 1 << 30}, func(c *stream.Conn) {
		_, r, err := c.NextReader()
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, r)
		c.WriteMessage(codec.OpText, fmt.Appendf(nil, "received %d bytes", n))
		c.ReadMessage() // until the client closes
	})
	c, err := stream.Dial(context.Background(), url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	w, err := c.NextWriter(codec.OpBinary)
	if err != nil {
		log.Fatal(err)
	}
	// Any io.Reader: a file, a pipe. Here 3 MiB of zeros.
	if _, err := io.Copy(w, io.LimitReader(zeros{}, 3<<20)); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	_, p, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(p))
	// Output: received 3145728 bytes
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// serveExample serves handle on a loopback port for the rest of the
// process and returns its URL.
func serveExample(opts *stream.Options, handle func(*stream.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.Close()
		handle(c)
	})}
	go srv.Serve(ln)
	return "ws://" + ln.Addr().String() + "/"
}
