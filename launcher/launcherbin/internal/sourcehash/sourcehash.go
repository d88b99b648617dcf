// Package sourcehash sums the sources the embedded launcher binaries are
// built from, the same way for the generator that records the sum and the
// test that compares it, so that a change to them without a rebuild is
// caught.
package sourcehash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// dirs are the directories, relative to the launcher package's, of the
// launcher package and program.
var dirs = []string{".", "program"}

// Sum returns the hex SHA-256 of the non-test Go files of the launcher
// package and program, root being the launcher package's directory. Each
// file counts with its slash-separated path relative to root, so the sum is
// the same wherever the tree is and whatever the system.
func Sum(root string) (string, error) {
	var names []string
	for _, d := range dirs {
		paths, err := filepath.Glob(filepath.Join(root, d, "*.go"))
		if err != nil {
			return "", err
		}
		for _, p := range paths {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return "", err
			}
			names = append(names, filepath.ToSlash(rel))
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("sourcehash: no Go files under %s", root)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			return "", err
		}
		// The lengths keep one file's end from passing for another's
		// start.
		fmt.Fprintf(h, "%d:%s\n%d:", len(name), name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
