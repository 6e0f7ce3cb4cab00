//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStore makes store, if need be, and holds a lock on it until unlock, or
// until the process ends, however it ends: a master killed with SIGKILL
// leaves the store free for the next.
func lockStore(store string) (unlock func(), err error) {
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(store, "master.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another master is using %s", store)
		}
		return nil, fmt.Errorf("--store: %w", err)
	}
	return func() { f.Close() }, nil
}
