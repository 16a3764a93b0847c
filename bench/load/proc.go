package load

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports; reading it needs
// sysconf (cgo), which this module avoids.
const clockTicks = 100

// ProcStats reads a process's resident memory (VmRSS), CPU time used so
// far (user + system) and thread count from /proc. The benchmark reads
// it for the server process before and after a scenario.
func ProcStats(pid int) (rssBytes int64, cpuSeconds float64, threads int, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		switch {
		case k == "VmRSS" && len(f) >= 1:
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			rssBytes = kb * 1024
		case k == "Threads" && len(f) >= 1:
			threads, _ = strconv.Atoi(f[0])
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("load: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': state is field 3, utime 14, stime 15 (1-based, proc(5)).
	if len(f) < 13 {
		return 0, 0, 0, fmt.Errorf("load: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, fmt.Errorf("load: bad times in /proc/%d/stat", pid)
	}
	return rssBytes, float64(ut+st) / clockTicks, threads, nil
}
