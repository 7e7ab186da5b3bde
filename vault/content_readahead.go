package vault

import (
	"os"
	"sync/atomic"
)

// coldWindow is how much backing file a small read that misses the page
// cache brings in: the aligned 128 KiB around it (the kernel's default
// read-ahead size), about 23 chunks of 4 KiB.
//
// Chunk lines are not page aligned and a cold miss costs a whole device
// round trip, while the kernel reads only the pages a small random read
// touches (2-3 per line) until it sees a sequential pattern. Reading the
// surrounding 128 KiB costs about the same latency on SSD-class storage
// and turns later reads of neighbouring chunks into page-cache hits,
// much as filesystems that transform data read whole extents. It only
// warms fernetfs's own backing cache (never the plaintext page cache an
// application may have asked not to fill), and only on a miss: reads of
// cached data cost no extra system call, and sequential reads are left
// to the kernel. fio's random 4 KiB reads over a cold 256 MiB file read
// the same bytes from the device in a third as many requests.
const coldWindow = 128 << 10

// backingFd is the descriptor used for page-cache aware reads, or -1
// when the backing is not an *os.File (tests, tools) or preadv2 with
// RWF_NOWAIT turned out to be unsupported.
type backingFd struct {
	fd atomic.Int64
	// raw is the descriptor for writes (see writeBacking), -1 when the
	// backing is not an *os.File. It never changes.
	raw int64
	// noCachestat is set once cachestat(2) (Linux 6.5) is missing.
	noCachestat atomic.Bool
}

func (b *backingFd) init(f Backing) {
	b.fd.Store(-1)
	b.raw = -1
	of, ok := f.(*os.File)
	if !ok {
		return
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { b.fd.Store(int64(fd)); b.raw = int64(fd) })
}
