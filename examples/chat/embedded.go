package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// errDataInUse: another chat process holds the data directory. Two
// embedded servers writing one file store would corrupt it, and
// nats-server does not lock its store directory itself.
var errDataInUse = errors.New("chat: data directory in use by another chat process")

// startEmbedded runs a NATS server with JetStream inside this process,
// storing in dir (created if need be). It listens on no port: the chat
// connects to it in process, so a single node needs nothing installed,
// configured or reachable, and takes the same path as a cluster node.
// stop shuts the server down and releases dir.
func startEmbedded(dir string, maxStore int64) (ns *server.Server, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	ns, err = server.NewServer(&server.Options{
		ServerName: "chat-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		// The store's own limit, above the stream's (which is what
		// bounds it): JetStream refuses a stream larger than this.
		JetStreamMaxStore:  maxStore,
		JetStreamMaxMemory: 64 << 20, // consumers only; no stream is in memory
		NoLog:              true,
		NoSigs:             true,
	})
	if err != nil {
		unlock()
		return nil, nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		unlock()
		return nil, nil, fmt.Errorf("chat: embedded NATS server in %s did not start", dir)
	}
	return ns, func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock()
	}, nil
}

// lockDir takes an exclusive lock on dir/LOCK for the life of the
// process (the kernel drops it if the process dies).
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", errDataInUse, dir)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}
