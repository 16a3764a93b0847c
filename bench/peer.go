package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// buildPeer builds the peer command once into dir. GOWORK=off: the
// repository's go.work does not list the bench module.
func buildPeer(dir string) (string, error) {
	bin := filepath.Join(dir, "peer")
	// -tags nbio: nbio is in the comparison, but kept out of the default
	// build and so of the -race test suite (see peers/nbio.go).
	cmd := exec.Command("go", "build", "-tags", "nbio", "-o", bin, "./peers/cmd/peer")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the peer command: %w", err)
	}
	return bin, nil
}

// peer is a running peer server process.
type peer struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited
}

// freePort picks a loopback port nothing listens on. Another process
// could take it before the peer binds it; on loopback in a benchmark
// run that is rare enough, and the peer then fails loudly.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startPeer runs bin for lib and waits for its "ready <addr>" line.
func startPeer(bin, lib string, broadcast bool) (*peer, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-lib", lib, "-addr", addr}
	if broadcast {
		args = append(args, "-broadcast")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		// Read stdout to the end so the peer never blocks on a full pipe.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				select {
				case ready <- strings.TrimSpace(a):
				default:
				}
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("peer %s exited before it was ready", lib)
	case <-time.After(15 * time.Second):
		p.stop()
		return nil, fmt.Errorf("peer %s not ready in 15s", lib)
	}
}

// stop kills the peer (it holds nothing worth a graceful end) and waits
// for it to exit.
func (p *peer) stop() {
	p.cmd.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}
