package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

func versionCommand() *command {
	return &command{
		name:     "version",
		synopsis: "",
		summary:  "print the versions of fernetfs, go-fuse and Go",
		help: `
Print fernetfs's version (the module version, or the git revision it was
built from), go-fuse's version and the Go version, for bug reports.
"fernetfs --version" is the same.`,
		run: runVersion,
	}
}

func runVersion(e *env, c *command, args []string) error {
	if _, err := newFlagSet(c).parseN(e, args); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(e.stdout, buildVersion())
	fmt.Fprintf(e.stdout, "go-fuse %s\n", depVersion(bi, goFuseModule))
	fmt.Fprintf(e.stdout, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

const goFuseModule = "github.com/hanwen/go-fuse/v2"

// buildVersion is fernetfsVersion of this binary.
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return fernetfsVersion(bi)
}

// fernetfsVersion is "fernetfs VERSION", VERSION being the module
// version ("(devel)" or a pseudo-version for a build from a checkout)
// and, when the build recorded it and the version does not show it, the
// git revision, with "+modified" for uncommitted changes.
// It is what init records as the vault's created_by: printable ASCII,
// well under vault.MaxCreatedByLen.
func fernetfsVersion(bi *debug.BuildInfo) string {
	if bi == nil {
		return "fernetfs (unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	out := "fernetfs " + v
	// Go 1.24 and later already put the revision in a pseudo-version
	// (and "+dirty" for a modified tree).
	if rev != "" && !strings.Contains(v, shortRevision(rev)) {
		out += " git " + shortRevision(rev) + modified
	}
	return out
}

func shortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// depVersion is the version of module path in the build, or "unknown".
func depVersion(bi *debug.BuildInfo, path string) string {
	if bi != nil {
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil {
					return d.Version + " => " + d.Replace.Path + " " + d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}
