// Command hashsrc prints the sum of the launcher's sources under the
// directory it is given (the launcher package's), for generate.sh to
// record in source.sha256.
package main

import (
	"fmt"
	"os"

	"github.com/arena-hq/arena/launcher/launcherbin/internal/sourcehash"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hashsrc launcher-dir")
		os.Exit(2)
	}
	sum, err := sourcehash.Sum(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hashsrc:", err)
		os.Exit(1)
	}
	fmt.Println(sum)
}
