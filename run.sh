#!/usr/bin/env bash
# One-line quick start on Debian 12: installs fuse3 if missing, builds
# fernetfs, creates a vault in ~/fernetfs-vault (first run only) and mounts it
# at ~/fernetfs-mnt. The password comes from FERNETFS_PASSWORD or a prompt.
set -euo pipefail
cd "$(dirname "$0")"
backing=${FERNETFS_BACKING:-$HOME/fernetfs-vault}
mnt=${FERNETFS_MOUNTPOINT:-$HOME/fernetfs-mnt}

if ! command -v fusermount3 >/dev/null; then
  echo "run.sh: installing fuse3" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq fuse3 >/dev/null; else sudo apt-get install -y -qq fuse3 >/dev/null; fi
fi
export PATH=$PATH:/usr/local/go/bin
CGO_ENABLED=0 go build -o bin/fernetfs ./cmd/fernetfs # static: see README "Install"
if [ ! -e "$backing/fernetfs.json" ]; then
  bin/fernetfs init "$backing"
fi
mkdir -p "$mnt"
bin/fernetfs mount "$backing" "$mnt"
