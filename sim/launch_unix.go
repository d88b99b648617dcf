//go:build unix

package sim

import (
	"os"
	"syscall"
)

// unblock opens the FIFO at path for writing and closes it, so that a
// reader waiting in its open reads nothing and gives up.
func unblock(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}
