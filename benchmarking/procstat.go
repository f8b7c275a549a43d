package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. Linux fixes it
// at 100 for user space whatever the kernel's own tick rate (USER_HZ).
const userHZ = 100

// procSample is what /proc says of one process at one moment.
type procSample struct {
	CPU      time.Duration // utime + stime, all threads, since the process started
	MaxRSSkB uint64        // VmHWM: peak resident set size
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Field 2 (comm) is in parentheses and may hold spaces: split after the
	// last ')'. What follows starts at field 3, so utime (14) and stime (15)
	// are at 11 and 12.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest) // "12345 kB"
			if len(fields) >= 1 {
				s.MaxRSSkB, err = strconv.ParseUint(fields[0], 10, 64)
				if err != nil {
					return s, fmt.Errorf("/proc/%d/status: VmHWM %q", pid, rest)
				}
			}
			return s, nil
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	return s, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

// selfCPU is the harness's own CPU time so far (user + system), which
// competes with the nodes for the same cores.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
