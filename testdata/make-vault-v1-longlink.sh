#!/usr/bin/env bash
# Regenerates the frozen vault testdata/vault-v1-longlink through a real
# fernetfs mount: a symlink target too long for a backing symlink (a long
# link, FORMAT.md "Symlinks") beside a short one, in a header with
# created_by. Run it only on purpose: the frozen bytes are what the tests
# check (vault/frozen_test.go TestFrozenLongLinkVault).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/fernetfs-fixture ./cmd/fernetfs
backing=testdata/vault-v1-longlink
pwfile=testdata/vault-v1.password
mnt=$(mktemp -d)
rm -rf "$backing"
mkdir "$backing"
/tmp/fernetfs-fixture init --iterations 1000 --password-file "$pwfile" "$backing" >/dev/null 2>&1
/tmp/fernetfs-fixture mount --password-file "$pwfile" "$backing" "$mnt" >/dev/null
trap '/tmp/fernetfs-fixture unmount "$mnt"; rmdir "$mnt"' EXIT
mkdir "$mnt/dir"
# 4095 bytes: "long/" 819 times.
ln -s "$(printf 'long/%.0s' $(seq 819))" "$mnt/dir/long"
ln -s short-target "$mnt/dir/short"
