//go:build race

package main

// raceEnabled: the race detector slows the node several times over.
const raceEnabled = true
