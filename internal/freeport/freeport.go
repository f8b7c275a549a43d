// Package freeport hands out loopback TCP ports for tests, the benchmark
// harness and the simulated chain: a port is found by listening on
// 127.0.0.1:0 and closing the listener, so a process that asks twice can
// be offered the same port twice (the kernel just freed it) and then two
// of its nodes fail to bind. Port never returns a port it returned
// before in the same process.
package freeport

import (
	"errors"
	"net"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a loopback TCP port that was free a moment ago and that
// this process was not handed before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("freeport: no free port that was not handed out already")
}
