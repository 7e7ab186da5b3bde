package fs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// idleLoop unmounts the server after idle without requests and with no
// open file, so a forgotten mount of a private folder locks itself.
// If something still holds the mount busy (a shell's cwd), it retries
// on the next tick.
func (r *root) idleLoop(server *fuse.Server, idle time.Duration) {
	done := make(chan struct{})
	go func() {
		server.Wait()
		close(done)
	}()
	tick := min(max(idle/10, 50*time.Millisecond), 10*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := r.activity.Load()
	since := time.Now()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if a := r.activity.Load(); a != last || r.handles.Load() > 0 {
			last, since = a, time.Now()
			continue
		}
		if time.Since(since) < idle {
			continue
		}
		if err := server.Unmount(); err == nil {
			r.log.Printf("unmounted after %v without activity", idle)
			return
		}
	}
}
