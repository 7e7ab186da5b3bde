package vault

import (
	"regexp"
	"strings"
)

// Sync tools (Syncthing, Dropbox, Nextcloud, rclone bisync) keep both
// versions of a file changed on two machines by renaming one of them:
// they add a suffix to the backing name, or insert it before the name's
// last extension. A backing name with such a suffix is no token, so
// without this translation the other version would silently vanish from
// the plaintext tree. FORMAT.md, "Sync conflict copies", specifies it.

// conflictMarker joins a plaintext name and a conflict label in the
// name shown for a conflict copy: "NAME (conflict LABEL)".
const conflictMarker = " (conflict "

// maxConflictDepth bounds how many conflict suffixes are unwrapped (a
// conflict copy of a conflict copy has two).
const maxConflictDepth = 4

var (
	// dotLabel is a suffix added after a dot: Syncthing's
	// "sync-conflict-YYYYMMDD-HHMMSS-DEVICEID" and rclone bisync's
	// "conflictN".
	dotLabel = regexp.MustCompile(`^(sync-conflict-[0-9]{8}-[0-9]{6}-[A-Z0-9]{7}|conflict[0-9]{1,9})$`)
	// parenLabel is a suffix added in parentheses after a space:
	// Dropbox's "DEVICE's conflicted copy YYYY-MM-DD" and Nextcloud's
	// "conflicted copy YYYY-MM-DD HHMMSS".
	parenLabel = regexp.MustCompile(`^([^()/\x00]{1,100}'s )?conflicted copy [0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{6})?$`)
)

// isConflictLabel reports whether label is the text of a conflict
// suffix of one of the known tools.
func isConflictLabel(label string) bool {
	return dotLabel.MatchString(label) || parenLabel.MatchString(label)
}

// conflictSuffix is how label is appended to a backing name.
func conflictSuffix(label string) string {
	if dotLabel.MatchString(label) {
		return "." + label
	}
	return " (" + label + ")"
}

// trimConflictSuffix removes a conflict suffix from the end of name.
func trimConflictSuffix(name string) (base, label string, ok bool) {
	if i := strings.LastIndexByte(name, '.'); i > 0 && dotLabel.MatchString(name[i+1:]) {
		return name[:i], name[i+1:], true
	}
	if strings.HasSuffix(name, ")") {
		if i := strings.LastIndex(name, " ("); i > 0 && parenLabel.MatchString(name[i+2:len(name)-1]) {
			return name[:i], name[i+2 : len(name)-1], true
		}
	}
	return "", "", false
}

// splitConflict undoes one conflict rename of a backing name: the
// suffix at the end, or before the last extension (which tokens never
// have, but long names, their sidecars and diriv files do). It returns
// the backing name the tool renamed and the suffix's text.
func splitConflict(name string) (base, label string, ok bool) {
	if base, label, ok := trimConflictSuffix(name); ok {
		return base, label, true
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if base, label, ok := trimConflictSuffix(name[:i]); ok {
			return base + name[i:], label, true
		}
	}
	return "", "", false
}

// conflictBases returns the backing name a (possibly repeated) conflict
// copy was made from, or name itself.
func conflictBase(name string) string {
	for i := 0; i < maxConflictDepth; i++ {
		base, _, ok := splitConflict(name)
		if !ok {
			break
		}
		name = base
	}
	return name
}

// conflictNames are the backing names a tool would give a conflict copy
// of base with label: appended, or before base's last extension.
func conflictNames(base, label string) []string {
	suf := conflictSuffix(label)
	out := []string{base + suf}
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		out = append(out, base[:i]+suf+base[i:])
	}
	return out
}

// conflictPlain is the plaintext name shown for a conflict copy of plain.
func conflictPlain(plain, label string) string {
	return plain + conflictMarker + label + ")"
}

// splitConflictPlain undoes conflictPlain.
func splitConflictPlain(plain string) (base, label string, ok bool) {
	if !strings.HasSuffix(plain, ")") {
		return "", "", false
	}
	i := strings.LastIndex(plain, conflictMarker)
	if i <= 0 {
		return "", "", false
	}
	label = plain[i+len(conflictMarker) : len(plain)-1]
	if !isConflictLabel(label) {
		return "", "", false
	}
	return plain[:i], label, true
}

// isDirIVCopy reports whether a backing name is a sync tool's conflict
// copy of the directory IV, and gives its label.
func isDirIVCopy(name string) (label string, ok bool) {
	base, label, ok := splitConflict(name)
	if !ok || conflictBase(base) != DirIVName {
		return "", false
	}
	return label, true
}
