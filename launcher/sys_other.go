//go:build !unix

package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// errUnsupported is every FIFO and exec operation's error where there are
// no FIFOs or execve: Arena's containers run Linux, and only an agent on a
// Unix host shares a directory with them.
var errUnsupported = fmt.Errorf("launcher: %w on this system", errors.ErrUnsupported)

func makeFIFO(string) error { return errUnsupported }

func openWriter(context.Context, string) (*os.File, error) { return nil, errUnsupported }

// Exec replaces the calling process with c's game server where the system
// can; here it cannot, and it returns an error wrapping
// errors.ErrUnsupported.
func Exec(c Claim) error {
	if err := c.check(); err != nil {
		return err
	}
	return errUnsupported
}
