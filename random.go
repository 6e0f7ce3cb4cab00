// Python's random.randint, for the downloads and the master's tasks.

package main

import "math/rand/v2"

// randint is the twin of random.randint: a random int in [a, b].
func randint(rng *rand.Rand, a, b int) int {
	return a + rng.IntN(b-a+1)
}

// newRand returns the random source of one goroutine. Each goroutine gets
// its own stream of the seed, so a seeded run draws the same numbers however
// the goroutines are scheduled.
func newRand(seed uint64, stream int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(stream)))
}
