// Command independent runs bench's echo or broadcast scenario with
// independent clients (load.EchoIndependent, load.BroadcastIndependent):
// a goroutine per connection on plain net.Conn, in a process of its own,
// apart from the runner and from the server under test.
//
//	independent -scenario echo -addr 127.0.0.1:9001 -conns 1000 -size 64 -duration 7s [-echo-rate 20000] [-server-pid N]
//	independent -scenario broadcast -addr 127.0.0.1:9001 -subs 5000 -pubs 10 -rate 200 -size 64 -duration 5s
//
// It writes the result as one JSON object on stdout, {"result": {...},
// "error": "..."}, and its progress and failures on stderr. With
// -server-pid it reads that process's CPU from /proc at the measured
// phase's ends; it always reads its own.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// output is what goes to stdout.
type output struct {
	Result any    `json:"result"`
	Error  string `json:"error,omitempty"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("independent: ")
	scenario := flag.String("scenario", "echo", "echo or broadcast")
	addr := flag.String("addr", "127.0.0.1:9001", "the server (host:port)")
	conns := flag.Int("conns", 1000, "echo: connections")
	size := flag.Int("size", 64, "payload bytes (at least 16)")
	inflight := flag.Int("inflight", 1, "echo: messages in flight per connection")
	duration := flag.Duration("duration", 5*time.Second, "echo: the measured window; broadcast: publishing")
	subs := flag.Int("subs", 5000, "broadcast: subscribers")
	pubs := flag.Int("pubs", 10, "broadcast: publishers among the subscribers")
	rate := flag.Float64("rate", 100, "broadcast: messages/s published in all (deliveries/s = rate × subscribers)")
	echoRate := flag.Float64("echo-rate", 0, "echo: round trips/s asked of all connections, paced evenly; 0: each sends again when its echo is back")
	drain := flag.Duration("drain", 0, "bound on the wait for the last echoes or deliveries (default: echo 5s, broadcast 30s)")
	serverPID := flag.Int("server-pid", 0, "the server's process id: its CPU over the measured phase is read from /proc")
	caFile := flag.String("ca", "", "wss://: trust this CA (PEM) alone")
	flag.Parse()

	in := load.Independent{ServerPID: *serverPID, Drain: *drain}
	if *caFile != "" {
		cfg, err := trust(*caFile)
		if err != nil {
			log.Fatal(err)
		}
		in.TLS = cfg
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var res any
	var err error
	switch *scenario {
	case "echo":
		res, err = load.EchoIndependent(ctx, *addr, *conns, *size, *inflight, *echoRate, *duration, in)
	case "broadcast":
		res, err = load.BroadcastIndependent(ctx, *addr, *subs, *pubs, *rate, *size, *duration, in)
	default:
		log.Fatalf("unknown -scenario %q (want echo or broadcast)", *scenario)
	}
	out := output{Result: res}
	if err != nil {
		out.Error = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
}

// trust is a client configuration that trusts the CA in file alone,
// for a server certified for 127.0.0.1.
func trust(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, nil
}
