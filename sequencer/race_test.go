//go:build race

package sequencer

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = true
