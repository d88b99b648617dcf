//go:build !linux

package postgres

import (
	"syscall"
	"time"
)

// userTimeout sets nothing where TCP_USER_TIMEOUT is not Linux's: there the
// keepalives and the lease's own deadlines bound a dead connection.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
