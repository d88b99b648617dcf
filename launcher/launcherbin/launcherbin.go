// Package launcherbin holds the launcher program (package launcher's
// program directory) built for Linux on each architecture Arena runs
// containers on, for the agent to install with launcher.InstallBinary.
//
// The binaries are generated and kept in the tree, so that building Arena
// needs no cross-compilation step; after a change to the launcher's
// sources, run go generate ./launcher/... (the package's test fails until
// then).
package launcherbin

import (
	"embed"
	"fmt"
	"runtime"
)

//go:generate bash generate.sh

//go:embed launcher-linux-amd64 launcher-linux-arm64
var binaries embed.FS

// sourceHash is the sum, by package sourcehash, of the sources the
// binaries were built from.
//
//go:embed source.sha256
var sourceHash string

// Binary returns the launcher program for the architecture Arena runs on,
// which is the containers' architecture when the agent runs beside its
// container runtime.
func Binary() ([]byte, error) {
	return BinaryFor(runtime.GOARCH)
}

// BinaryFor returns the launcher program for Linux on arch, a GOARCH value
// such as "amd64" or "arm64", for a container runtime whose architecture is
// not the agent's. The slice is the caller's.
func BinaryFor(arch string) ([]byte, error) {
	b, err := binaries.ReadFile("launcher-linux-" + arch)
	if err != nil {
		return nil, fmt.Errorf("launcherbin: no launcher for linux/%s", arch)
	}
	return b, nil
}
