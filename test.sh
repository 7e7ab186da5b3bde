#!/usr/bin/env bash
# The whole test suite: formatting, vet, staticcheck, module tidiness,
# cross-builds, the generated assembly, then every package with the race
# detector. Run as root on a machine with /dev/fuse and fuse3 (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")"

# staticcheck, pinned: 2026.2.2, a release that supports Go 1.26.
STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...
go mod tidy -diff
go run "$STATICCHECK" ./...

# The offline commands build for macOS and the codec's portable path for
# arm64 (the mount is Linux-only); vet compiles their tests too.
GOARCH=arm64 go vet ./...
GOOS=darwin go vet ./vault/... ./cmd/...

# The assembly is what vault/fernet/asmgen.go writes.
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
cp vault/fernet/*_amd64.s "$gen"/
(cd vault/fernet && go generate)
for f in "$gen"/*.s; do
  if ! cmp -s "$f" "vault/fernet/${f##*/}"; then
    echo "vault/fernet/${f##*/} is not what asmgen.go writes (run go generate in vault/fernet):" >&2
    diff -u "$f" "vault/fernet/${f##*/}" | head -40 >&2 || true
    exit 1
  fi
done

# The codec's exhaustive tests in full (under -race they sample), and
# vault on the portable path alone.
go test -count=1 ./vault/fernet
go test -count=1 -tags purego ./vault/...

# The patched go-fuse (third_party/go-fuse/PATCHES.md): the patches' own tests.
(cd third_party/go-fuse && go test -count=1 -run 'ReadBufPool|BufferPool|LoopYield|DevIONoAllocs' ./fuse)
(cd third_party/go-fuse && go test -count=1 -run 'InodeTablesSize|InodeData|InodeParents|LockNodesNoAllocs|IdentityTable|InodeChildren|PtrTable' ./fs)

go test -race -count=1 -timeout 25m ./...
