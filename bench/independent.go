package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/shoalws/shoal/bench/load"
)

// runIndependent runs s on the independent clients: the load command in
// a process of its own, apart from this runner and from the server p. It
// reads p's CPU at the measured phase's ends itself, and its own.
func runIndependent(ctx context.Context, e env, p *peer, s spec) (any, *loadProc, error) {
	if e.bins.load == "" {
		return nil, nil, errors.New("an independent run without the load command")
	}
	args, err := independentArgs(e, p, s)
	if err != nil {
		return nil, nil, err
	}
	// Past every bound of its own, the process is stuck: stop it.
	oh := s.overhead()
	cctx, cancel := context.WithTimeout(ctx, s.Duration+oh.worst+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, e.bins.load, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	runErr := cmd.Run()
	var lp *loadProc
	if ps := cmd.ProcessState; ps != nil {
		lp = &loadProc{CPUSeconds: (ps.UserTime() + ps.SystemTime()).Seconds()}
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			lp.MaxRSSMiB = float64(ru.Maxrss) / 1024 // Maxrss is in KiB on Linux
		}
	}
	if runErr != nil {
		return nil, lp, fmt.Errorf("independent clients: %w", runErr)
	}
	res, err := decodeIndependent(s.Scenario, out.Bytes())
	return res, lp, err
}

// independentArgs is the load command's command line for s against p.
func independentArgs(e env, p *peer, s spec) ([]string, error) {
	args := []string{"-scenario", s.Scenario, "-addr", p.addr, "-size", strconv.Itoa(s.Size),
		"-duration", s.Duration.String(), "-server-pid", strconv.Itoa(p.cmd.Process.Pid)}
	switch s.Scenario {
	case "echo":
		args = append(args, "-conns", strconv.Itoa(s.Conns), "-inflight", strconv.Itoa(s.Inflight),
			"-echo-rate", strconv.FormatFloat(s.Rate, 'g', -1, 64))
	case "broadcast":
		args = append(args, "-subs", strconv.Itoa(s.Subs), "-pubs", strconv.Itoa(s.Pubs),
			"-rate", strconv.FormatFloat(s.Rate, 'g', -1, 64))
		if s.Drain > 0 {
			args = append(args, "-drain", s.Drain.String())
		}
	default:
		return nil, fmt.Errorf("%s runs on the reactor client only", s.Scenario)
	}
	if s.Mode.Compress {
		return nil, errors.New("the independent clients have no permessage-deflate")
	}
	if s.TLS {
		if e.wss == nil {
			return nil, errors.New("a wss:// run without a certificate")
		}
		args = append(args, "-ca", e.wss.caFile)
	}
	return args, nil
}

// decodeIndependent reads the load command's output: the scenario's
// result, and its error if it had one.
func decodeIndependent(scenario string, data []byte) (any, error) {
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("independent clients: reading their result: %w", err)
	}
	var res any
	var err error
	switch scenario {
	case "echo":
		var r load.EchoResult
		err = json.Unmarshal(out.Result, &r)
		res = r
	case "broadcast":
		var r load.BroadcastResult
		err = json.Unmarshal(out.Result, &r)
		res = r
	}
	if err != nil {
		return nil, fmt.Errorf("independent clients: reading their result: %w", err)
	}
	if out.Error != "" {
		return res, errors.New(out.Error)
	}
	return res, nil
}
