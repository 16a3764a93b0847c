package shoal_test

import (
	"log"
	"net/http"
	"strings"

	"github.com/shoalws/shoal"
)

// An echo server that listens by itself: one SO_REUSEPORT socket per
// shard.
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
