// The tutorial's small pieces, as the main program has them: the random
// numbers of task_master.py and the work of task_worker.py. The tests hold
// both to the main program's output (testdata/*.golden).

package main

import (
	"fmt"
	"math/rand/v2"
)

// randint is the twin of random.randint: a random int in [a, b].
func randint(rng *rand.Rand, a, b int) int {
	return a + rng.IntN(b-a+1)
}

// newRand is the master's random source, as the main program seeds it.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0))
}

// square is the work of one task: r = '%d * %d = %d' % (n, n, n * n).
func square(n int) string {
	return fmt.Sprintf("%d * %d = %d", n, n, n*n)
}
