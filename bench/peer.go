package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalws/shoal/bench/load"
	"github.com/shoalws/shoal/internal/testca"
)

// peerBinaries are the two builds of the peer command, and the
// independent clients' command. nbio is built apart: its package init
// starts a task pool in every process that links it, which would add to
// every other library's baseline memory and goroutines.
type peerBinaries struct {
	plain string // shoal, gorilla, gws, gobwas
	nbio  string // -tags nbio; empty when nbio is not compared
	load  string // load/cmd/independent; empty when no run uses it
}

// forLib is the binary that serves lib.
func (b peerBinaries) forLib(lib string) string {
	if lib == "nbio" {
		return b.nbio
	}
	return b.plain
}

// buildPeers builds the peer command into dir once per binary the libs
// need, and with independent the independent clients' command.
// GOWORK=off: the peers are built from bench/go.mod alone, so the
// compared libraries are the versions it pins, not whatever the
// repository's workspace resolves them to. shoal itself is this checkout:
// bench/go.mod requires its release version, which may not be published
// yet, so the build goes through a copy of go.mod that replaces it with
// the repository root.
func buildPeers(dir string, libs []string, independent bool) (peerBinaries, error) {
	var b peerBinaries
	modfile, err := modfileWithLocalShoal(dir)
	if err != nil {
		return b, err
	}
	if slices.ContainsFunc(libs, func(l string) bool { return l != "nbio" }) {
		b.plain = filepath.Join(dir, "peer")
		if err := goBuild(modfile, b.plain, "./peers/cmd/peer"); err != nil {
			return b, err
		}
	}
	if slices.Contains(libs, "nbio") {
		// nbio is kept out of the default build and so of the -race
		// test suite (see peers/nbio.go), but is in the comparison.
		b.nbio = filepath.Join(dir, "peer-nbio")
		if err := goBuild(modfile, b.nbio, "./peers/cmd/peer", "-tags", "nbio"); err != nil {
			return b, err
		}
	}
	if independent {
		b.load = filepath.Join(dir, "independent")
		if err := goBuild(modfile, b.load, "./load/cmd/independent"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// modfileWithLocalShoal writes into dir a copy of bench's go.mod and
// go.sum whose shoal is the repository root, and returns the go.mod's path.
func modfileWithLocalShoal(dir string) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	modfile := filepath.Join(dir, "go.mod")
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	if err := goCmd("mod", "edit", "-replace=github.com/shoalws/shoal="+root, modfile); err != nil {
		return "", err
	}
	return modfile, nil
}

func goBuild(modfile, out, pkg string, flags ...string) error {
	args := append(append([]string{"build", "-modfile=" + modfile}, flags...), "-o", out, pkg)
	return goCmd(args...)
}

func goCmd(args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// peer is a running peer server process, started with -control: its
// stdin takes queries and its stdout carries "ready" and the answers.
type peer struct {
	lib   string
	cmd   *exec.Cmd
	addr  string
	done  chan struct{} // closed when the process has exited
	stats chan string   // "stats ..." lines, in order

	mu     sync.Mutex // one query at a time
	stdin  io.WriteCloser
	lastID int
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

// peerReadyTimeout bounds the wait for "ready".
const peerReadyTimeout = 15 * time.Second

// wss is the certificate peers serve wss:// with, and the load's client
// configuration, which trusts its CA alone.
type wss struct {
	certFile, keyFile string
	caFile            string // for the independent clients' process
	client            *tls.Config
}

// newWSS makes a throwaway CA and a certificate for 127.0.0.1, in dir.
func newWSS(dir string) (*wss, error) {
	ca, err := testca.New()
	if err != nil {
		return nil, err
	}
	cert, key, caFile, err := ca.WriteFiles(dir)
	if err != nil {
		return nil, err
	}
	return &wss{certFile: cert, keyFile: key, caFile: caFile, client: ca.ClientConfig("127.0.0.1")}, nil
}

// startPeer runs bin for lib and waits for its "ready <addr>" line.
func startPeer(bin, lib string, broadcast bool, mode load.Mode, w *wss) (*peer, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-lib", lib, "-addr", addr, "-control"}
	if broadcast {
		args = append(args, "-broadcast")
	}
	if w != nil {
		args = append(args, "-tls-cert", w.certFile, "-tls-key", w.keyFile)
	}
	if mode.Compress {
		args = append(args, "-compress")
	}
	if mode.Takeover {
		args = append(args, "-takeover")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{lib: lib, cmd: cmd, stdin: stdin, done: make(chan struct{}), stats: make(chan string, 8)}
	ready := make(chan string, 1)
	go p.readStdout(out, ready)
	select {
	case p.addr = <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("peer %s exited before it was ready", lib)
	case <-time.After(peerReadyTimeout):
		p.stop()
		return nil, fmt.Errorf("peer %s not ready in %v", lib, peerReadyTimeout)
	}
}

// readStdout reads the peer's stdout to the end, so the peer never
// blocks on a full pipe, and routes its lines: the first "ready" to
// ready, answers to p.stats. An answer nobody waits for any more is
// dropped when the channel is full: queries match answers by id.
func (p *peer) readStdout(out io.Reader, ready chan<- string) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if a, ok := strings.CutPrefix(line, "ready "); ok {
			select {
			case ready <- strings.TrimSpace(a):
			default:
			}
			continue
		}
		if strings.HasPrefix(line, "stats ") || strings.HasPrefix(line, "error ") {
			select {
			case p.stats <- line:
			default:
			}
		}
	}
	p.cmd.Wait()
	close(p.done)
}

// statsTimeout bounds the wait for an answer: a peer under load
// schedules its control goroutine late, but not this late.
const statsTimeout = 5 * time.Second

// goroutines asks the peer for its runtime.NumGoroutine.
func (p *peer) goroutines() (int, error) { return p.query("stats") }

// collect has the peer collect its garbage and return free memory to
// the OS, and waits until it has.
func (p *peer) collect() error {
	_, err := p.query("gc")
	return err
}

// query sends a stats or gc query and returns the goroutine count of
// the answer.
func (p *peer) query(cmd string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastID++
	id := strconv.Itoa(p.lastID)
	if _, err := fmt.Fprintf(p.stdin, "%s %s\n", cmd, id); err != nil {
		return 0, fmt.Errorf("peer %s: sending stats query: %w", p.lib, err)
	}
	timeout := time.NewTimer(statsTimeout)
	defer timeout.Stop()
	for {
		select {
		case line := <-p.stats:
			fields, err := parseStats(line)
			if err != nil {
				return 0, fmt.Errorf("peer %s: %w", p.lib, err)
			}
			if fields["id"] != id {
				continue // the late answer to an earlier query
			}
			n, err := strconv.Atoi(fields["goroutines"])
			if err != nil {
				return 0, fmt.Errorf("peer %s: bad stats answer %q", p.lib, line)
			}
			return n, nil
		case <-p.done:
			return 0, fmt.Errorf("peer %s exited", p.lib)
		case <-timeout.C:
			return 0, fmt.Errorf("peer %s: no stats answer in %v", p.lib, statsTimeout)
		}
	}
}

// parseStats reads "stats k=v k=v ..." into a map.
func parseStats(line string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(line, "stats ")
	if !ok {
		return nil, fmt.Errorf("stats query answered %q", line)
	}
	m := make(map[string]string)
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad stats answer %q", line)
		}
		m[k] = v
	}
	return m, nil
}

// stop kills the peer (it holds nothing worth a graceful end) and waits
// up to 5 s for it to exit.
func (p *peer) stop() {
	p.cmd.Process.Kill()
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// openFDs counts a process's open file descriptors.
func openFDs(pid int) (int, error) {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return len(names), nil
}
