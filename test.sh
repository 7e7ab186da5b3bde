#!/usr/bin/env bash
# The whole test suite: vet, then every package with the race detector.
# Run as root on a machine with /dev/fuse and fuse3 (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 25m ./...
