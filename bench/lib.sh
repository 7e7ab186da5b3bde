# shellcheck shell=bash
# bench/lib.sh — shared by bench/run, bench/fusecount, bench/reverse and
# bench/shared: logging, tool installation, vault creation, mounting and
# unmounting of the targets (plain, fernetfs, gocryptfs, securefs), GlusterFS
# volumes, timing, cold caches, medians, and the cleanup trap.
#
# Callers set before sourcing: BENCH_HERE (the bench/ directory).
# After bench_init_scratch: SCR (scratch dir), PWFILE, LOGDIR, MNT[t], BACKING[t].
# A target name T is also its kind (fernetfs, gocryptfs, securefs) unless
# TARGET_KIND[T] says otherwise; TARGET_BACKING[T], TARGET_MNT[T] and
# TARGET_FLAGS[T] (mount flags) override the defaults of setup_target.

export LC_ALL=C
REPO=$(cd "$BENCH_HERE/.." && pwd)
BENCH_PASSWORD=${BENCH_PASSWORD:-fernetfs-bench-password}
BENCH_T0=$EPOCHREALTIME

declare -A MNT=() BACKING=() DAEMON_PID=() SKIP_REASON=()
MOUNTED=()   # mountpoints this script mounted, unmounted by the trap
STARTED_PIDS=() # background processes this script started itself
declare -A TARGET_KIND=() TARGET_BACKING=() TARGET_MNT=() TARGET_FLAGS=()
GLUSTER_VOLUMES=() # GlusterFS volumes this script created, deleted by the trap
GLUSTERD_PID=      # glusterd, if this script started it

# Floating point arithmetic: fcalc '1+2*3'.
fcalc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# Seconds since the script started.
elapsed() { fcalc "$EPOCHREALTIME - $BENCH_T0"; }

log() { printf '[%7.1fs] %s\n' "$(elapsed)" "$*" >&2; }
warn() { printf '[%7.1fs] WARNING: %s\n' "$(elapsed)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ensure_tools CMD... installs the Debian packages that provide the missing
# commands (root only), with one apt-get update retry.
ensure_tools() {
	local -A pkg_of=([fio]=fio [fusermount3]=fuse3 [gocryptfs]=gocryptfs
		[securefs]=securefs [findmnt]=util-linux [tar]=tar
		[gluster]=glusterfs-server [glusterd]=glusterfs-server
		[mount.glusterfs]=glusterfs-client)
	local missing=() c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("${pkg_of[$c]:-$c}")
	done
	((${#missing[@]})) || return 0
	if [[ $EUID -ne 0 ]]; then
		warn "missing packages: ${missing[*]} (not root, cannot apt-get install)"
		return 1
	fi
	log "installing with apt-get: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >"${LOGDIR:-/tmp}/apt.log" 2>&1 ||
		{ apt-get update -qq >>"${LOGDIR:-/tmp}/apt.log" 2>&1 &&
			apt-get install -y -qq "${missing[@]}" >>"${LOGDIR:-/tmp}/apt.log" 2>&1; } ||
		warn "apt-get install ${missing[*]} failed (see ${LOGDIR:-/tmp}/apt.log)"
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || return 1; done
}

# bench_init_scratch creates the scratch directory under $BENCH_DIR (all
# targets live on that one filesystem) and installs the cleanup trap.
bench_init_scratch() {
	mkdir -p "$BENCH_DIR"
	SCR=$(mktemp -d "$BENCH_DIR/fernetfs-bench.XXXXXX")
	LOGDIR=$SCR/logs
	mkdir -p "$SCR/bin" "$SCR/mnt" "$SCR/backing" "$LOGDIR"
	PWFILE=$SCR/password
	(umask 077 && printf '%s\n' "$BENCH_PASSWORD" >"$PWFILE")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# is_mounted MNT: is MNT a mount point right now? Reads mountinfo instead of
# stat(2), which would hang on a dead FUSE daemon.
is_mounted() {
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# fstype_of MNT prints the filesystem type of the mount at MNT.
fstype_of() {
	awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1); exit } }' \
		/proc/self/mountinfo
}

# wait_mounted MNT SECONDS: wait until MNT is a FUSE mount.
wait_mounted() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if is_mounted "$1"; then
			[[ $(fstype_of "$1") == fuse* ]] && return 0
			warn "$1 is mounted but not as FUSE ($(fstype_of "$1"))"
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# unmount_one MNT: fernetfs unmount (if it is fernetfs's), then fusermount3 -u,
# then a lazy unmount as the last resort.
unmount_one() {
	local m=$1 i
	is_mounted "$m" || return 0
	if [[ ($m == "${MNT[fernetfs]:-}" || $(fstype_of "$m") == fuse.fernetfs) && -x ${FERNETFS_BIN:-} ]]; then
		timeout 20 "$FERNETFS_BIN" unmount "$m" >>"$LOGDIR/unmount.log" 2>&1 || true
	fi
	for i in 1 2 3; do
		is_mounted "$m" || return 0
		timeout 20 fusermount3 -u "$m" >>"$LOGDIR/unmount.log" 2>&1 || sleep 0.5
	done
	is_mounted "$m" || return 0
	# Not every FUSE mount is fusermount3's (mount -t glusterfs is mount(8)'s).
	timeout 20 umount "$m" >>"$LOGDIR/unmount.log" 2>&1
	is_mounted "$m" || return 0
	warn "lazy unmount of $m"
	fusermount3 -uz "$m" >>"$LOGDIR/unmount.log" 2>&1 || umount -l "$m" 2>/dev/null || true
	! is_mounted "$m"
}

# bench_cleanup is the EXIT trap: unmount everything this script mounted,
# stop the daemons it started (by PID), delete the scratch dir (KEEP=1 keeps it).
bench_cleanup() {
	local rc=$? m p i left=0
	trap - EXIT INT TERM HUP
	set +e
	[[ -n ${SCR:-} ]] || exit "$rc"
	# Newest first: a mount may sit on one made before it (a vault on a
	# GlusterFS volume).
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		m=${MOUNTED[i]}
		unmount_one "$m" || { warn "could not unmount $m"; left=1; }
	done
	gluster_teardown
	sleep 0.2
	for p in "${DAEMON_PID[@]}" "${STARTED_PIDS[@]}"; do
		if [[ -z $p ]] || ! kill -0 "$p" 2>/dev/null; then continue; fi
		sleep 2
		kill -0 "$p" 2>/dev/null && { warn "daemon $p still running after unmount, stopping it"; kill "$p" 2>/dev/null; }
	done
	if ((left)) || grep -qF " $SCR/" /proc/self/mountinfo; then
		warn "mounts remain under $SCR; leaving it in place"
	elif [[ ${KEEP:-0} == 1 ]]; then
		log "KEEP=1: scratch dir kept at $SCR"
	else
		rm -rf --one-file-system "$SCR"
	fi
	exit "$rc"
}

# holds_fuse PID: has PID /dev/fuse open (as a FUSE daemon does)?
holds_fuse() {
	local fd
	for fd in "/proc/$1"/fd/*; do
		[[ $(readlink "$fd" 2>/dev/null) == /dev/fuse ]] && return 0
	done
	return 1
}

# find_daemon_pid NAME MNT prints the PID of the process named NAME (comm) that
# serves MNT: it holds /dev/fuse open and its argv contains MNT (other
# helpers may serve other mounts with the same program; a parent that waits
# for its daemon has the same argv but no /dev/fuse). Falls back to an argv
# match alone, then to the only new NAME process (not in PIDS_BEFORE) that
# holds /dev/fuse.
find_daemon_pid() {
	local name=$1 m=$2 d p argv=() fresh=()
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[[ $(cat "$d/comm" 2>/dev/null) == "$name" ]] || continue
		if tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF "$m"; then
			holds_fuse "$p" && { echo "$p"; return 0; }
			argv+=("$p")
		elif [[ " ${PIDS_BEFORE:-} " != *" $p "* ]] && holds_fuse "$p"; then
			fresh+=("$p")
		fi
	done
	if ((${#argv[@]} == 1)); then
		echo "${argv[0]}"
	elif ((${#argv[@]} == 0 && ${#fresh[@]} == 1)); then
		echo "${fresh[0]}"
	fi
}

# build_fernetfs builds ./cmd/fernetfs into $SCR/bin (unless FERNETFS_BIN is
# set) and sets FERNETFS_BIN; returns 1 with SKIP_REASON[fernetfs] set.
build_fernetfs() {
	if [[ -n ${FERNETFS_BIN_PREBUILT:-} ]]; then
		FERNETFS_BIN=$FERNETFS_BIN_PREBUILT
		[[ -x $FERNETFS_BIN ]] && return 0
		SKIP_REASON[fernetfs]="FERNETFS_BIN=$FERNETFS_BIN is not executable"
		return 1
	fi
	if [[ ! -d $REPO/cmd/fernetfs ]]; then
		SKIP_REASON[fernetfs]="$REPO/cmd/fernetfs does not exist yet"
		return 1
	fi
	FERNETFS_BIN=$SCR/bin/fernetfs
	# Built as the README installs it: static, without libc (CGO_ENABLED=0).
	if ! (cd "$REPO" && CGO_ENABLED=0 go build -o "$FERNETFS_BIN" ./cmd/fernetfs) >"$LOGDIR/fernetfs-build.log" 2>&1; then
		SKIP_REASON[fernetfs]="go build ./cmd/fernetfs failed: $(head -c 300 "$LOGDIR/fernetfs-build.log" | tr '\n' ' ')"
		FERNETFS_BIN=
		return 1
	fi
}

# probe_mount T MNT: a file written through the mount reads back, so the
# numbers are not those of a broken filesystem.
probe_mount() {
	local f=$2/.bench-probe
	printf 'fernetfs-bench probe\n' >"$f" 2>>"$LOGDIR/$1.log" &&
		[[ $(cat "$f" 2>>"$LOGDIR/$1.log") == 'fernetfs-bench probe' ]] &&
		rm -f "$f" 2>>"$LOGDIR/$1.log"
}

# setup_target T [MOUNT-COMMAND-OVERRIDE...]: create the vault of T and mount
# it at $SCR/mnt/T (plain: just a directory). Returns 1 and sets SKIP_REASON
# on failure. Mount flags come from <T>_MOUNT_FLAGS, word-split on purpose.
# shellcheck disable=SC2086
setup_target() {
	local t=$1 kind=${TARGET_KIND[$1]:-$1} lg=$LOGDIR/$1.log
	local b=${TARGET_BACKING[$1]:-$SCR/backing/$1} m=${TARGET_MNT[$1]:-$SCR/mnt/$1}
	BACKING[$t]=$b
	MNT[$t]=$m
	if [[ $t == plain ]]; then
		MNT[$t]=$SCR/plain
		mkdir -p "${MNT[$t]}"
		return 0
	fi
	mkdir -p "$b" "$m"
	PIDS_BEFORE=$(cd /proc && echo [0-9]*)
	case $kind in
	fernetfs)
		build_fernetfs || return 1
		# --iterations is lowered only so that init and mount unlock fast; PBKDF2
		# runs once per mount and does not touch the measured workloads.
		if ! FERNETFS_PASSWORD=$BENCH_PASSWORD timeout 120 "$FERNETFS_BIN" init \
			--iterations "$FERNETFS_ITERATIONS" $FERNETFS_INIT_FLAGS "$b" </dev/null >"$LOGDIR/$t-init.log" 2>&1; then
			SKIP_REASON[$t]="fernetfs init failed: $(tail -c 300 "$LOGDIR/$t-init.log" | tr '\n' ' ')"
			return 1
		fi
		if ! FERNETFS_PASSWORD=$BENCH_PASSWORD timeout 120 "$FERNETFS_BIN" mount \
			${TARGET_FLAGS[$t]-$FERNETFS_MOUNT_FLAGS} "$b" "$m" </dev/null >"$lg" 2>&1; then
			SKIP_REASON[$t]="fernetfs mount failed: $(tail -c 300 "$lg" | tr '\n' ' ')"
			is_mounted "$m" && MOUNTED+=("$m")
			return 1
		fi
		;;
	gocryptfs)
		if ! gocryptfs -init -quiet -scryptn 10 -passfile "$PWFILE" "$b" >"$LOGDIR/$t-init.log" 2>&1; then
			SKIP_REASON[$t]="gocryptfs -init failed: $(tail -c 300 "$LOGDIR/$t-init.log" | tr '\n' ' ')"
			return 1
		fi
		if ! timeout 120 gocryptfs -quiet -nosyslog -passfile "$PWFILE" ${TARGET_FLAGS[$t]-$GOCRYPTFS_MOUNT_FLAGS} \
			"$b" "$m" </dev/null >"$lg" 2>&1; then
			SKIP_REASON[$t]="gocryptfs mount failed: $(tail -c 300 "$lg" | tr '\n' ' ')"
			is_mounted "$m" && MOUNTED+=("$m")
			return 1
		fi
		;;
	securefs)
		# Format 4 ("lite": one backing file per file, no inode table) is
		# securefs's fastest; PBKDF2 with few rounds only speeds up unlocking.
		if ! securefs create $SECUREFS_CREATE_FLAGS --pbkdf pkcs5-pbkdf2-hmac-sha256 -r 1000 \
			--pass "$BENCH_PASSWORD" "$b" </dev/null >"$LOGDIR/$t-init.log" 2>&1; then
			SKIP_REASON[$t]="securefs create failed: $(tail -c 300 "$LOGDIR/$t-init.log" | tr '\n' ' ')"
			return 1
		fi
		if ! timeout 120 securefs mount -b --log "$LOGDIR/securefs-daemon.log" \
			--pass "$BENCH_PASSWORD" $SECUREFS_MOUNT_FLAGS "$b" "$m" </dev/null >"$lg" 2>&1; then
			SKIP_REASON[$t]="securefs mount failed: $(tail -c 300 "$lg" | tr '\n' ' ')"
			is_mounted "$m" && MOUNTED+=("$m")
			return 1
		fi
		;;
	*) die "unknown target $t" ;;
	esac
	if ! wait_mounted "$m" 20; then
		SKIP_REASON[$t]="$t: $m did not become a FUSE mount: $(tail -c 300 "$lg" | tr '\n' ' ')"
		is_mounted "$m" && MOUNTED+=("$m")
		return 1
	fi
	MOUNTED+=("$m")
	DAEMON_PID[$t]=$(find_daemon_pid "$kind" "$m")
	[[ -n ${DAEMON_PID[$t]} ]] || warn "$t: cannot find the daemon process; no RSS for it"
	if ! probe_mount "$t" "$m"; then
		SKIP_REASON[$t]="$t: a file written through $m does not read back: $(tail -c 300 "$lg" | tr '\n' ' ')"
		return 1
	fi
}

# target_version T prints the version string of T.
target_version() {
	case ${TARGET_KIND[$1]:-$1} in
	plain) echo "$(findmnt -n -o FSTYPE -T "$SCR" 2>/dev/null) on $(findmnt -n -o SOURCE -T "$SCR" 2>/dev/null)" ;;
	fernetfs)
		local rev gofuse
		rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
		git -C "$REPO" diff --quiet HEAD -- . 2>/dev/null || rev="$rev+dirty"
		[[ -n ${FERNETFS_BIN_PREBUILT:-} ]] && rev="$rev (binary: FERNETFS_BIN=$FERNETFS_BIN_PREBUILT, built apart)"
		gofuse=$(awk '$1 == "github.com/hanwen/go-fuse/v2" { print $2 }' "$REPO/go.mod")
		echo "git $rev, go-fuse $gofuse, $(go version | awk '{ print $3 }')"
		;;
	gocryptfs) gocryptfs -version 2>/dev/null | head -1 ;;
	securefs) echo "securefs $(dpkg-query -W -f='${Version}' securefs 2>/dev/null || securefs version 2>&1 | head -1), $(securefs version 2>&1 | grep -m1 -i fuse)" ;;
	esac
}

# timed CMD...: run CMD under timeout $STEP_TIMEOUT, DUR = wall seconds.
DUR=0
timed() {
	local t0=$EPOCHREALTIME
	timeout -k 10 "$STEP_TIMEOUT" "$@" || return 1
	DUR=$(fcalc "$EPOCHREALTIME - $t0")
}

# init_drop_caches sets CAN_DROP (1 if this process may drop the page cache).
init_drop_caches() {
	CAN_DROP=0
	if [[ $EUID -eq 0 ]] && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
		CAN_DROP=1
	else
		warn "cannot drop caches (not root?): 'cold' runs will be warm"
	fi
}

# drop_caches: sync, then drop the page cache, dentries and inodes.
drop_caches() {
	sync
	((${CAN_DROP:-0})) && echo 3 >/proc/sys/vm/drop_caches
	return 0
}

# median "V V V ..." prints the median of the numbers (nothing if none).
median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# gluster_cli ARGS...: the GlusterFS command line in script mode, output logged.
gluster_cli() {
	timeout 120 gluster --mode=script "$@" >>"$LOGDIR/gluster.log" 2>&1
}

# gluster_start makes sure glusterd answers, starting it (and remembering
# its PID for the trap) if it does not run.
gluster_start() {
	local i
	gluster_cli volume list && return 0
	log "starting glusterd"
	# Without the descriptors this script holds (a flock(1) lock among
	# them): glusterd and its brick processes may outlive the script.
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done
		exec glusterd
	) >>"$LOGDIR/gluster.log" 2>&1 || return 1
	for ((i = 0; i < 100; i++)); do
		if gluster_cli volume list; then
			GLUSTERD_PID=$(pgrep -x -o glusterd || true)
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# gluster_volume NAME BRICK MNT: create and start a one-node volume with its
# brick at BRICK, with the client caches off that README ("Shared storage")
# asks for, and mount it at MNT with the GlusterFS FUSE client.
gluster_volume() {
	local name=$1 brick=$2 m=$3 o i
	gluster_cli volume create "$name" "$(hostname):$brick" force || return 1
	GLUSTER_VOLUMES+=("$name")
	for o in write-behind read-ahead io-cache quick-read stat-prefetch open-behind; do
		gluster_cli volume set "$name" "performance.$o" off || return 1
	done
	gluster_cli volume start "$name" || return 1
	mkdir -p "$m"
	# The brick may take a moment to accept clients.
	for ((i = 0; i < 20; i++)); do
		if timeout 60 mount -t glusterfs "$(hostname):/$name" "$m" >>"$LOGDIR/gluster.log" 2>&1; then
			MOUNTED+=("$m")
			return 0
		fi
		sleep 0.25
	done
	return 1
}

# gluster_teardown (from the trap, after the unmounts): stop and delete the
# volumes this script created, and stop glusterd if this script started it
# and no other volume is left.
gluster_teardown() {
	local v
	for v in "${GLUSTER_VOLUMES[@]}"; do
		gluster_cli volume stop "$v" force || warn "could not stop GlusterFS volume $v"
		gluster_cli volume delete "$v" || warn "could not delete GlusterFS volume $v"
	done
	GLUSTER_VOLUMES=()
	[[ -n $GLUSTERD_PID ]] || return 0
	if [[ -n $(timeout 60 gluster --mode=script volume list 2>/dev/null | grep -v '^No volumes present') ]]; then
		log "glusterd left running: other volumes exist"
		return 0
	fi
	kill "$GLUSTERD_PID" 2>/dev/null || true
	GLUSTERD_PID=
}
