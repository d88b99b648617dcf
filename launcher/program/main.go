// Command launcher is the entrypoint of Arena's warm-pool containers in
// launch mode: it waits for the session's claim and becomes its game
// server. See package launcher.
package main

import (
	"os"

	"github.com/arena-hq/arena/launcher"
)

func main() {
	os.Exit(launcher.Run(os.Args[1:]))
}
