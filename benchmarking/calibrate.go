package main

import (
	"fmt"
	"math"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// calibration is this machine's cost of the one thing a durable entry
// cannot do without (issue 15): one secp256k1 signature, with the same
// go-ethereum code the node signs with; and of one ecrecover, what a
// replica pays per entry and a primary per signed request. CPU per entry
// divided by these holds across machines better than entries/s does.
type calibration struct {
	SignUs    float64 `json:"signUs"`    // µs per signature, one goroutine
	RecoverUs float64 `json:"recoverUs"` // µs per ecrecover
	Rounds    int     `json:"rounds"`
	PerRound  int     `json:"perRound"`
}

// calibrate times rounds of n signatures and recoveries on one goroutine
// and keeps the fastest round of each: on a shared machine a slower round
// measured a neighbour, not the work.
func calibrate(rounds, n int) (calibration, error) {
	c := calibration{Rounds: rounds, PerRound: n}
	key, err := crypto.GenerateKey()
	if err != nil {
		return c, err
	}
	hashes := make([][]byte, n)
	sigs := make([][]byte, n)
	for i := range hashes {
		hashes[i] = crypto.Keccak256(fmt.Appendf(nil, "calibration %d", i))
	}
	best := func(f func(i int) error) (float64, error) {
		min := math.Inf(1)
		for range rounds {
			start := time.Now()
			for i := range n {
				if err := f(i); err != nil {
					return 0, err
				}
			}
			min = math.Min(min, float64(time.Since(start).Microseconds())/float64(n))
		}
		return round(min, 2), nil
	}
	if c.SignUs, err = best(func(i int) (err error) { sigs[i], err = crypto.Sign(hashes[i], key); return err }); err != nil {
		return c, err
	}
	c.RecoverUs, err = best(func(i int) error { _, err := crypto.Ecrecover(hashes[i], sigs[i]); return err })
	return c, err
}
