#!/usr/bin/env bash
# One-line quick start on Debian 12: installs fuse3 if missing, builds
# fernetfs, creates a vault in ~/fernetfs-vault (first run only) and mounts it
# at ~/fernetfs-mnt. The password comes from FERNETFS_PASSWORD or a prompt
# (twice for a new vault, then never again).
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
mkdir -p "$mnt"
if [ -e "$backing/fernetfs.json" ] || [ -n "${FERNETFS_PASSWORD:-}" ]; then
  [ -e "$backing/fernetfs.json" ] || bin/fernetfs init "$backing"
  exec bin/fernetfs mount "$backing" "$mnt"
fi
# A new vault: ask for its password twice, here, and hand it to init and
# mount on a pipe (never a file, an argument or the mount's environment),
# so it is not asked for a third time.
if [ ! -t 0 ]; then
  echo "run.sh: no terminal to ask for a new password on; set FERNETFS_PASSWORD" >&2
  exit 2
fi
IFS= read -rsp "New password for $backing: " pw; echo >&2
IFS= read -rsp "Repeat password: " pw2; echo >&2
if [ -z "$pw" ] || [ "$pw" != "$pw2" ]; then
  echo "run.sh: the passwords are empty or do not match" >&2
  exit 1
fi
bin/fernetfs init --password-fd 3 "$backing" 3< <(printf '%s\n' "$pw")
exec bin/fernetfs mount --password-fd 3 "$backing" "$mnt" 3< <(printf '%s\n' "$pw")
