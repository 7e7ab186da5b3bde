#!/usr/bin/env bash
# Regenerates the frozen example vault testdata/vault-v1 from the plaintext
# tree testdata/vault-v1.plain through a real fernetfs mount. Run it only
# on purpose (a format change): the frozen bytes are what the tests check.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/fernetfs-fixture ./cmd/fernetfs
plain=testdata/vault-v1.plain
backing=testdata/vault-v1
pwfile=testdata/vault-v1.password
mnt=$(mktemp -d)
rm -rf "$backing"
mkdir "$backing"
/tmp/fernetfs-fixture init --iterations 1000 --password-file "$pwfile" "$backing" >/dev/null 2>&1
/tmp/fernetfs-fixture mount --password-file "$pwfile" "$backing" "$mnt" >/dev/null
trap '/tmp/fernetfs-fixture unmount "$mnt"; rmdir "$mnt"' EXIT
cp -a "$plain"/. "$mnt"/
# A sparse file: data at both ends, holes in between.
python3 - "$mnt/sparse.bin" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"start")
    f.seek(5 * 4096 + 10)
    f.write(b"end")
PY
cp --sparse=always "$mnt/sparse.bin" "$plain/sparse.bin"
