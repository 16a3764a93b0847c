// Command peer serves the benchmark's echo (or, with -broadcast, broadcast)
// service with one of the compared WebSocket libraries:
//
//	go run ./peers/cmd/peer -lib gorilla -addr 127.0.0.1:9001 [-broadcast] [-compress [-takeover]] [-control]
//
// It prints "ready <addr>" on stdout once listening, and stops on SIGINT or
// SIGTERM. With -control, stdin is the benchmark runner's control channel
// (see control.go): it answers "stats" queries, and stops when stdin closes.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/shoalws/shoal/bench/peers"
)

func main() {
	names := make([]string, 0, len(peers.Libs))
	for name := range peers.Libs {
		names = append(names, name)
	}
	sort.Strings(names)
	lib := flag.String("lib", "shoal", "library: "+strings.Join(names, ", "))
	addr := flag.String("addr", "127.0.0.1:9001", "listen address (host:port)")
	broadcast := flag.Bool("broadcast", false, "send every message to every client instead of echoing it")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate")
	takeover := flag.Bool("takeover", false, "with -compress: context takeover both ways, where the library has it")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (host:port), for profiling a run")
	control := flag.Bool("control", false, `answer "stats" lines on stdin with "stats goroutines=N" on stdout, and stop when stdin closes`)
	certFile := flag.String("tls-cert", "", "serve wss:// with this certificate (PEM; with -tls-key)")
	keyFile := flag.String("tls-key", "", "the certificate's private key (PEM)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }()
	}

	srv, ok := peers.Libs[*lib]
	if !ok {
		log.Fatalf("peer: unknown -lib %q (want one of %s)", *lib, strings.Join(names, ", "))
	}
	// Ask for the signals before listening, so one sent just after
	// "ready" is never lost.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	bound, stop, err := srv.Serve(*addr, peers.Options{Broadcast: *broadcast, Compress: *compress, Takeover: *takeover,
		CertFile: *certFile, KeyFile: *keyFile})
	if err != nil {
		log.Fatalf("peer: %s: %v", *lib, err)
	}
	// Only this goroutine writes stdout until "ready" is out; after it,
	// only the control loop does, so lines never interleave.
	fmt.Printf("ready %s\n", bound)
	closed := make(chan struct{})
	if *control {
		go func() {
			if err := serveControl(os.Stdin, os.Stdout); err != nil {
				log.Printf("peer: control: %v", err)
			}
			close(closed)
		}()
	}
	select {
	case <-sig:
	case <-closed: // the runner is gone: do not outlive it
	}
	stop()
}
