#!/usr/bin/env bash
# Regenerates the Go code of the agent protocol (rpc/agentv1 and
# rpc/agentv1/agentv1connect) from proto/. The generated code is committed, so
# building and CI need none of these tools; run this after editing a .proto
# file and commit both.
#
# Needs protoc (the checked-in code was generated with libprotoc 3.21.12, the
# Debian package protobuf-compiler) and Go. The plugins are installed into a
# temporary directory at the versions go.mod requires of their runtimes, so
# that generated code and runtime always match:
#   protoc-gen-go          google.golang.org/protobuf  (v1.36.12)
#   protoc-gen-connect-go  connectrpc.com/connect      (v1.21.1)
set -euo pipefail
cd "$(dirname "$0")/.."

module=$(go list -m)
version() { go list -m -f '{{.Version}}' "$1"; }

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install "google.golang.org/protobuf/cmd/protoc-gen-go@$(version google.golang.org/protobuf)"
GOBIN=$bin go install "connectrpc.com/connect/cmd/protoc-gen-connect-go@$(version connectrpc.com/connect)"

rm -rf rpc/agentv1
PATH="$bin:$PATH" protoc -I proto \
  --go_out=. --go_opt=module="$module" \
  --connect-go_out=. --connect-go_opt=module="$module" \
  $(find proto -name '*.proto' | sort)
