package fs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// killPrivFS is go-fuse's node filesystem plus the part of
// FUSE_HANDLE_KILLPRIV_V2 that go-fuse does not pass to nodes: the
// kernel flags WRITE, and OPEN or CREATE with O_TRUNC, of a caller
// without CAP_FSETID, and the filesystem must then clear the file's
// setuid bit and its setgid bit if group-executable, as a local
// filesystem does. It turns each such flag into a SETATTR carrying
// FATTR_KILL_SUIDGID, which Setattr handles (as it does for truncate and
// chown, where the kernel sends that bit itself).
//
// In exchange the kernel stops asking: without the capability it sent a
// GETXATTR security.capability before every write and a GETATTR before
// every chown. (security.* attributes are never stored, so there are no
// file capabilities to drop.)
type killPrivFS struct {
	fuse.RawFileSystem
}

var _ fuse.RawFileSystem = (*killPrivFS)(nil)

func (k *killPrivFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0 {
		if st := k.killSuidgid(cancel, &in.InHeader, in.Fh); !st.Ok() {
			return 0, st
		}
	}
	return k.RawFileSystem.Writev(cancel, in, data)
}

func (k *killPrivFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0 {
		if st := k.killSuidgid(cancel, &in.InHeader, in.Fh); !st.Ok() {
			return 0, st
		}
	}
	return k.RawFileSystem.Write(cancel, in, data)
}

func (k *killPrivFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := k.RawFileSystem.Open(cancel, in, out)
	if st.Ok() && in.Mode&fuse.OPEN_KILL_SUIDGID != 0 {
		if kst := k.killSuidgid(cancel, &in.InHeader, out.Fh); !kst.Ok() {
			k.RawFileSystem.Release(cancel, &fuse.ReleaseIn{InHeader: in.InHeader, Fh: out.Fh, Flags: in.Flags})
			return kst
		}
	}
	return st
}

func (k *killPrivFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	st := k.RawFileSystem.Create(cancel, in, name, out)
	if st.Ok() && in.OpenFlags&fuse.OPEN_KILL_SUIDGID != 0 {
		// An existing file opened with O_TRUNC; a failure here is
		// reported by the next write, which carries the flag too.
		h := in.InHeader
		h.NodeId = out.NodeId
		k.killSuidgid(cancel, &h, out.Fh)
	}
	return st
}

// killSuidgid sends node h.NodeId (through handle fh) a SETATTR that
// only clears suid/sgid.
func (k *killPrivFS) killSuidgid(cancel <-chan struct{}, h *fuse.InHeader, fh uint64) fuse.Status {
	in := fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{
		InHeader: *h,
		Valid:    fuse.FATTR_KILL_SUIDGID | fuse.FATTR_FH,
		Fh:       fh,
	}}
	var out fuse.AttrOut
	return k.RawFileSystem.SetAttr(cancel, &in, &out)
}

// killSuidgidMode is mode without the bits a write by an unprivileged
// caller clears: setuid, and setgid when group-executable (without
// group execute, setgid marks mandatory locking and stays).
func killSuidgidMode(mode uint32) uint32 {
	mode &^= unix.S_ISUID
	if mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
		mode &^= unix.S_ISGID
	}
	return mode
}

// killSuidgid clears the bits of killSuidgidMode on a regular file, with
// one fstat and, only if a bit is set, one chmod.
func (t target) killSuidgid() error {
	var st unix.Statx_t
	if err := t.stat(&st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	mode := uint32(st.Mode) & 0o7777
	if m := killSuidgidMode(mode); m != mode {
		return t.chmod(m)
	}
	return nil
}
