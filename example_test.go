package shoal_test

import (
	"crypto/tls"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/shoalws/shoal"
)

// An echo server that listens by itself: one socket, every shard
// accepting from it.
func ExampleNew() {
	srv, err := shoal.New(shoal.Config{
		Addr: "127.0.0.1:9001",
		Handler: shoal.HandlerFuncs{
			Message: func(c *shoal.Conn, m shoal.Message) {
				// m.Data is valid until this function returns; Send copies it.
				c.Send(m.Type, m.Data)
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.ListenAndServe())
}

// Serving WebSockets from a net/http handler, next to ordinary pages.
// The user name read from the request is stored on the connection before
// OnOpen runs.
func ExampleServer_Upgrade() {
	srv, err := shoal.New(shoal.Config{
		Handler: shoal.HandlerFuncs{
			Open: func(c *shoal.Conn) {
				c.Send(shoal.Text, []byte("hello, "+c.Value().(string)))
			},
			Message: func(c *shoal.Conn, m shoal.Message) {
				c.Send(shoal.Text, []byte(strings.ToUpper(string(m.Data))))
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "name required", http.StatusBadRequest)
			return
		}
		// On a bad handshake Upgrade has already answered the client.
		srv.Upgrade(w, r, name)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}

// A wss:// echo server: the shards decrypt and encrypt with crypto/tls,
// and no goroutine stays with a connection after its handshake. With
// golang.org/x/crypto/acme/autocert, Config.TLS is the manager's
// TLSConfig().
func ExampleConfig_tls() {
	cert, err := tls.LoadX509KeyPair("cert.pem", "key.pem")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := shoal.New(shoal.Config{
		Addr: ":443",
		TLS:  &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler: shoal.HandlerFuncs{
			Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.ListenAndServe())
}

// Pages and their WebSocket endpoint on one https port: net/http serves
// the pages, and Upgrade moves each WebSocket, TLS included, to a shard.
func ExampleNewTLSListener() {
	srv, err := shoal.New(shoal.Config{
		Handler: shoal.HandlerFuncs{
			Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair("cert.pem", "key.pem")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir("static")))
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		srv.Upgrade(w, r, nil)
	})
	ln, err := net.Listen("tcp", ":443")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.Serve(shoal.NewTLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})))
}
