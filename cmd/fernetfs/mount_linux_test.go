package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMountScripts runs testdata/mount/*.txtar: the built command
// mounting in the background and the foreground, its exit statuses, and
// unmount. Any fernetfs mount a failed script leaves under its work
// directory is detached afterwards.
func TestMountScripts(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/mount",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			work := env.WorkDir
			// Background mounts without syslog log here, not in /var/log.
			env.Setenv("XDG_STATE_HOME", work+"/state")
			env.Defer(func() {
				for _, m := range fernetfsMountsUnder(work) {
					env.T().Log("detaching mount left by the script: " + m)
					syscall.Unmount(m, syscall.MNT_DETACH)
				}
			})
			return nil
		},
		Condition: scriptCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":        cmdStatus,
			"corrupt":       cmdCorrupt,
			"installhelper": cmdInstallHelper,
			"printedlog":    cmdPrintedLog,
			"notifylisten":  cmdNotifyListen,
			"notified":      cmdNotified,
			"mounted":       cmdMounted,
			"waitmounted":   cmdWaitMounted,
			"waitunmounted": cmdWaitUnmounted,
		},
	})
}

// fernetfsMountsUnder lists our mounts below dir.
func fernetfsMountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || !strings.Contains(line, " - "+fuseType+" ") {
			continue
		}
		if p := unescapeMountField(f[4]); strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

func isFernetfsMount(ts *testscript.TestScript, dir string) bool {
	m, err := findMount(ts.MkAbs(dir))
	ts.Check(err)
	return m != nil && m.fstype == fuseType
}

// cmdMounted asserts that DIR is (or with !, is not) a fernetfs mount:
// "mounted DIR".
func cmdMounted(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: mounted DIR")
	}
	if got := isFernetfsMount(ts, args[0]); got == neg {
		ts.Fatalf("%s mounted: %v, want %v", args[0], got, !neg)
	}
}

// waitFor polls until DIR's mount state is want, for up to 20 seconds
// (a deadline for a hang, not a speed assertion). It polls every
// millisecond so that a script's next step (a signal, say) lands right
// after the mount appears, while the server may still be starting.
func waitFor(ts *testscript.TestScript, args []string, want bool) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitmounted|waitunmounted DIR")
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if isFernetfsMount(ts, args[0]) == want {
			return
		}
	}
	ts.Fatalf("%s: mounted state never became %v", args[0], want)
}

// cmdWaitMounted waits for a foreground mount started with & to be
// ready: "waitmounted DIR".
func cmdWaitMounted(ts *testscript.TestScript, neg bool, args []string) {
	waitFor(ts, args, true)
}

// cmdWaitUnmounted waits for a mount to go away (--idle, a signal):
// "waitunmounted DIR".
func cmdWaitUnmounted(ts *testscript.TestScript, neg bool, args []string) {
	waitFor(ts, args, false)
}

// TestServerProcs checks that a serving mount has a P for every CPU and
// every goroutine that may block reading the FUSE device, and one more,
// unless the user set GOMAXPROCS.
func TestServerProcs(t *testing.T) {
	none := func(string) string { return "" }
	for _, c := range []struct{ cores, want int }{{1, 5}, {2, 6}, {4, 10}, {16, 34}} {
		if procs, ok := serverProcs(none, c.cores); !ok || procs != c.want {
			t.Errorf("%d cores: %d, %v; want %d, true", c.cores, procs, ok, c.want)
		}
	}
	env := map[string]string{"GOMAXPROCS": "3"}
	if _, ok := serverProcs(func(k string) string { return env[k] }, 2); ok {
		t.Error("GOMAXPROCS=3 in the environment was overridden")
	}
}

// TestServerGCPercent checks that a serving mount collects early unless
// the user set GOGC, whose value the runtime then applies itself.
func TestServerGCPercent(t *testing.T) {
	if pct, ok := serverGCPercent(func(string) string { return "" }); !ok || pct != 25 {
		t.Errorf("without GOGC: %d, %v; want 25, true", pct, ok)
	}
	env := map[string]string{"GOGC": "200"}
	if _, ok := serverGCPercent(func(k string) string { return env[k] }); ok {
		t.Error("GOGC=200 in the environment was overridden")
	}
}
