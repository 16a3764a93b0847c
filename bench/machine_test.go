package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestCPUModel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 7B13"},
		{"model name:Intel(R) Xeon(R) CPU @ 2.20GHz", "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"model name\t: \nmodel name\t: second", "second"},
		{"processor\t: 0\nBogoMIPS\t: 50.00\n", "unknown"}, // arm64 has none
		{"", "unknown"},
	} {
		if got := cpuModel(c.in); got != c.want {
			t.Errorf("cpuModel(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestModuleVersion(t *testing.T) {
	bi := &debug.BuildInfo{Deps: []*debug.Module{
		{Path: "github.com/gorilla/websocket", Version: "v1.5.3"},
		{Path: "github.com/lxzan/gws", Version: "v1.10.2", Replace: &debug.Module{Path: "github.com/fork/gws", Version: "v1.10.3"}},
		{Path: "github.com/shoalws/shoal", Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "..", Version: "(devel)"}},
	}}
	for _, c := range []struct{ path, version, dir string }{
		{"github.com/gorilla/websocket", "v1.5.3", ""},
		{"github.com/lxzan/gws", "v1.10.3", ""},
		{"github.com/shoalws/shoal", "", ".."},
		{"github.com/gobwas/ws", "unknown", ""},
	} {
		v, dir := moduleVersion(bi, c.path)
		if v != c.version || dir != c.dir {
			t.Errorf("%s: got %q, %q; want %q, %q", c.path, v, dir, c.version, c.dir)
		}
	}
	if v, _ := moduleVersion(nil, "github.com/gobwas/ws"); v != "unknown" {
		t.Errorf("no build info: %q", v)
	}
}

// This machine, read for real: the runner's own binary stands in for a
// peer's (it links shoal, from this repository).
func TestReadMachine(t *testing.T) {
	m := readMachine(peerBinaries{}, []string{"shoal"})
	if m.Cores != runtime.NumCPU() || m.Go != runtime.Version() || m.Date.IsZero() {
		t.Errorf("%+v", m)
	}
	if runtime.GOOS == "linux" && (m.Kernel == "unknown" || m.Kernel == "" || strings.ContainsAny(m.Kernel, "\n ")) {
		t.Errorf("kernel %q", m.Kernel)
	}
	if m.CPU == "" {
		t.Error("empty CPU")
	}
	if len(m.Libraries) != 1 || m.Libraries[0].Module != "github.com/shoalws/shoal" || m.Libraries[0].Version == "" {
		t.Errorf("libraries %+v", m.Libraries)
	}
}
