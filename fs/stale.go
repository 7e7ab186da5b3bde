package fs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// staleOpens decides how an open of a vanished file fails. The kernel
// looked the path up before the file was removed or replaced (a rename
// over it); ESTALE makes it look the path up again, once, and open what
// is there now, as open(2) on a local filesystem would. If that retry
// loses the race again, the kernel would hand ESTALE to the program;
// the thread's second vanished open in a row therefore gets ENOENT, the
// error programs expect for a file that went away.
type staleOpens struct {
	n  atomic.Int32 // len(m), read without the lock
	mu sync.Mutex
	m  map[uint32]time.Time // thread id -> when it was answered ESTALE
}

// retryWindow bounds how long an ESTALE answer waits for its retry;
// the kernel retries within the same system call.
const retryWindow = time.Second

// answer turns ESTALE from acquireContent into ESTALE or ENOENT for
// the calling thread; other errors pass through.
func (s *staleOpens) answer(ctx context.Context, errno syscall.Errno) syscall.Errno {
	if errno != syscall.ESTALE {
		return errno
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return syscall.ENOENT
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if t, seen := s.m[caller.Pid]; seen && now.Sub(t) < retryWindow {
		delete(s.m, caller.Pid)
		s.n.Store(int32(len(s.m)))
		return syscall.ENOENT
	}
	if s.m == nil || len(s.m) > 4096 {
		// Threads whose retry never came (the new lookup failed).
		s.m = make(map[uint32]time.Time)
	}
	s.m[caller.Pid] = now
	s.n.Store(int32(len(s.m)))
	return syscall.ESTALE
}

// opened forgets an ESTALE answer once the thread's retry succeeded.
func (s *staleOpens) opened(ctx context.Context) {
	if s.n.Load() == 0 {
		return
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.m, caller.Pid)
	s.n.Store(int32(len(s.m)))
	s.mu.Unlock()
}
