package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// calibration is this machine's cost of the one thing a durable entry
// cannot do without (issue 15): one secp256k1 signature, with the same
// go-ethereum code the node signs with; and of one ecrecover, what a
// replica pays per entry and a primary per signed request. CPU per entry
// divided by these holds across machines better than entries/s does.
type calibration struct {
	SignUs float64 `json:"signUs"` // µs per signature, one goroutine: the fastest round
	// SignMedianUs is the median round's µs per signature: on a shared
	// machine what a signature costs over a sustained run lies nearer
	// this than the fastest round. Reported beside the ratios, not used in
	// them.
	SignMedianUs float64 `json:"signMedianUs"`
	// SignAllCoresUs is the CPU µs per signature while every core signs at
	// once (one goroutine each): what a signature costs when the cores are
	// all busy, as under load (shared caches, a host's sibling threads).
	// Reported beside the ratios, not used in them.
	SignAllCoresUs float64 `json:"signAllCoresUs"`
	Cores          int     `json:"cores"`
	RecoverUs      float64 `json:"recoverUs"` // µs per ecrecover
	Rounds         int     `json:"rounds"`
	PerRound       int     `json:"perRound"`
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
	// timed returns the fastest and the median round's µs per call.
	timed := func(f func(i int) error) (fastest, median float64, err error) {
		per := make([]float64, 0, rounds)
		for range rounds {
			start := time.Now()
			for i := range n {
				if err := f(i); err != nil {
					return 0, 0, err
				}
			}
			per = append(per, float64(time.Since(start).Microseconds())/float64(n))
		}
		slices.Sort(per)
		return round(per[0], 2), round(per[len(per)/2], 2), nil
	}
	if c.SignUs, c.SignMedianUs, err = timed(func(i int) (err error) { sigs[i], err = crypto.Sign(hashes[i], key); return err }); err != nil {
		return c, err
	}
	if c.RecoverUs, _, err = timed(func(i int) error { _, err := crypto.Ecrecover(hashes[i], sigs[i]); return err }); err != nil {
		return c, err
	}
	// Every core signs n times at once, one goroutine each: each core is
	// busy throughout a round, so a round's time over n is the CPU µs per
	// signature.
	c.Cores = runtime.GOMAXPROCS(0)
	c.SignAllCoresUs = math.Inf(1)
	for range rounds {
		start := time.Now()
		errs := make(chan error, c.Cores)
		for range c.Cores {
			go func() {
				var err error
				for j := 0; j < n && err == nil; j++ {
					_, err = crypto.Sign(hashes[j], key)
				}
				errs <- err
			}()
		}
		for range c.Cores {
			if err := <-errs; err != nil {
				return c, err
			}
		}
		c.SignAllCoresUs = math.Min(c.SignAllCoresUs, float64(time.Since(start).Microseconds())/float64(n))
	}
	c.SignAllCoresUs = round(c.SignAllCoresUs, 2)
	return c, err
}
