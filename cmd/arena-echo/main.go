// Command arena-echo is the echo game server of package gameserver, built as
// a static binary to run in a scratch image.
package main

import (
	"os"

	"github.com/arena-hq/arena/gameserver"
)

func main() {
	os.Exit(gameserver.Main(os.Args[1:], os.Getenv, os.Stdout))
}
