package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// machine is what a result was measured on, recorded with every run.
type machine struct {
	Date      time.Time    `json:"date"`
	CPU       string       `json:"cpu"`
	Cores     int          `json:"logical_cores"`
	Kernel    string       `json:"kernel"`
	Go        string       `json:"go"`
	Libraries []libVersion `json:"libraries"`
}

// libVersion is the module a compared library came from.
type libVersion struct {
	Lib     string `json:"lib"`
	Module  string `json:"module"`
	Version string `json:"version"`
}

// modules maps a library's name in -libs to its module.
var modules = map[string]string{
	"shoal":   "github.com/shoalws/shoal",
	"gorilla": "github.com/gorilla/websocket",
	"gws":     "github.com/lxzan/gws",
	"gobwas":  "github.com/gobwas/ws",
	"nbio":    "github.com/lesismal/nbio",
}

// readMachine describes this machine and the libraries in bins.
func readMachine(bins peerBinaries, libs []string) machine {
	m := machine{
		Date:   time.Now().UTC(),
		CPU:    "unknown",
		Cores:  runtime.NumCPU(),
		Kernel: "unknown",
		Go:     runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	for _, lib := range libs {
		// The versions come from the peer binaries, which link the
		// libraries; the runner links none but shoal, so it is only
		// the fallback.
		bi, err := buildinfo.ReadFile(bins.forLib(lib))
		if err != nil {
			bi, _ = debug.ReadBuildInfo()
		}
		v, dir := moduleVersion(bi, modules[lib])
		if dir != "" {
			v = gitDescribe(dir)
		}
		m.Libraries = append(m.Libraries, libVersion{Lib: lib, Module: modules[lib], Version: v})
	}
	return m
}

// summary is the machine in one line, for a chart's subtitle.
func (m machine) summary() string {
	return fmt.Sprintf("%s, %s, %d logical cores, Linux %s, %s",
		m.Date.Format("2006-01-02"), m.CPU, m.Cores, m.Kernel, m.Go)
}

// cpuModel is the first "model name" of /proc/cpuinfo's text.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return "unknown"
}

// moduleVersion is path's version in a binary's build info. A module
// replaced by a directory (shoal, from this repository) has no version
// of its own: dir is that directory, for the caller to describe.
func moduleVersion(bi *debug.BuildInfo, path string) (version, dir string) {
	if bi == nil || path == "" {
		return "unknown", ""
	}
	for _, d := range bi.Deps {
		switch {
		case d.Path != path:
			continue
		case d.Replace == nil:
			return d.Version, ""
		case replacedByModule(d.Replace.Path):
			return d.Replace.Version, ""
		}
		return "", d.Replace.Path
	}
	return "unknown", ""
}

// replacedByModule reports whether a replacement is another module version
// rather than a directory (which starts with ./, ../ or /).
func replacedByModule(replacement string) bool {
	return !strings.HasPrefix(replacement, ".") && !filepath.IsAbs(replacement)
}

// gitDescribe names the commit a directory is at, "-dirty" if its
// working tree has changes: build info stamps it only with -buildvcs,
// which GOFLAGS may turn off.
func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return "local (" + dir + ")"
	}
	return "local at " + strings.TrimSpace(string(out))
}
