//go:build !unix

package main

import (
	"fmt"
	"os"
)

// lockStore makes store, if need be. Elsewhere than on Unix, nothing stops
// a second master from using it at the same time.
func lockStore(store string) (unlock func(), err error) {
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	return func() {}, nil
}
