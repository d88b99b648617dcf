#!/usr/bin/env bash
# Builds the launcher program for every architecture Arena runs containers
# on and records the sum of the sources it was built from, which
# launcherbin's test compares with the sources in the tree.
#
# The build is reproducible: -trimpath and an empty build ID keep paths and
# IDs out, -buildvcs=false keeps out the commit, which would otherwise make
# every commit rebuild byte-different binaries from unchanged sources.
set -euo pipefail
cd "$(dirname "$0")"

for arch in amd64 arm64; do
	out=launcher-linux-$arch
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags='-s -w -buildid=' -o "$out.new" ../program
	mv "$out.new" "$out"
done

# go generate sets GOOS and GOARCH to its target; hashsrc runs here.
env -u GOOS -u GOARCH go run ./internal/hashsrc .. >source.sha256.new
mv source.sha256.new source.sha256
