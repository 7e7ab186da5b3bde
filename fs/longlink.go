package fs

import (
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// longLinkWatch follows a backing symlink in the long-link form across an
// unlink or a rename over it: its sidecar in BACKING's root is shared by
// all hard links of the symlink, so it may go only with the last one.
// The O_PATH descriptor sees the inode's link count after the operation;
// at zero no new link to it can be made, so the removal cannot race a
// concurrent link(2).
type longLinkWatch struct {
	fd   int
	link string
}

// watchLongLink returns a watch for the entry backing (plaintext name in
// directory n) if it is a long link, else nil. A child the tree knows to
// be no symlink costs nothing; otherwise one open and one fstat tell.
func (n *node) watchLongLink(d *vault.Dir, name, backing string) *longLinkWatch {
	if ch := n.GetChild(name); ch != nil && ch.StableAttr().Mode&unix.S_IFMT != unix.S_IFLNK {
		return nil
	}
	fd, err := openAt(d.Fd(), backing, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		unix.Close(fd)
		return nil
	}
	link, err := readlinkAt(fd, "")
	if err != nil || !vault.IsLongLink(link) {
		unix.Close(fd)
		return nil
	}
	return &longLinkWatch{fd: fd, link: link}
}

// done removes the sidecar if the operation removed the symlink's last
// link, and closes the watch; a nil watch does nothing. A failure only
// leaves an unused sidecar behind, which readers ignore.
func (w *longLinkWatch) done(r *root) {
	if w == nil {
		return
	}
	defer unix.Close(w.fd)
	var st unix.Stat_t
	if err := unix.Fstat(w.fd, &st); err != nil || st.Nlink != 0 {
		return
	}
	if err := r.v.ForgetSymlink(w.link); err != nil {
		r.log.Printf("%v", err)
	}
}
