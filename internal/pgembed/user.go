package pgembed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUser is the unprivileged OS user the server runs as when we are root.
type serverUser struct {
	name     string
	uid, gid uint32
	groups   []uint32 // supplementary groups, for the traversal check
}

// lookupServerUser returns nil when the process is not root (the server then
// runs as the current user), else the "postgres" user, else "nobody".
func lookupServerUser() (*serverUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		su := &serverUser{name: name, uid: uint32(uid), gid: uint32(gid)}
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil {
					su.groups = append(su.groups, uint32(g))
				}
			}
		}
		return su, nil
	}
	return nil, errors.New(`pgembed: running as root but neither user "postgres" nor "nobody" exists to run the server as`)
}

// credential returns the SysProcAttr credential for the server user (nil: no change).
func (u *serverUser) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	groups := []uint32{}
	for _, g := range u.groups {
		if g != u.gid {
			groups = append(groups, g)
		}
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: groups}
}

func (u *serverUser) String() string {
	if u == nil {
		return "current user"
	}
	return fmt.Sprintf("%s (uid %d)", u.name, u.uid)
}

// chown gives path to the server user; a no-op when not root.
func (u *serverUser) chown(path string) error {
	if u == nil {
		return nil
	}
	if err := os.Lchown(path, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	return nil
}

// chownTree gives the tree at root to the server user when root itself is
// owned by someone else (for example a data directory made by an earlier
// non-root run); a no-op when not root.
func (u *serverUser) chownTree(root string) error {
	if u == nil {
		return nil
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == u.uid && st.Gid == u.gid {
		return nil
	}
	err = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
	if err != nil {
		return fmt.Errorf("pgembed: giving %s to %s: %w", root, u, err)
	}
	return nil
}

// checkTraversable fails with ErrNotAccessible naming the first directory,
// from / down to dir itself, that the server user may not search.
func (u *serverUser) checkTraversable(dir string) error {
	if u == nil {
		return nil
	}
	var chain []string
	for p := dir; ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		p := chain[i]
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if !u.canSearch(fi) {
			return fmt.Errorf("%w: %s (mode %v) cannot be traversed by %s, who runs the server; "+
				"allow it (for example chmod o+x %s) or choose a data directory elsewhere",
				ErrNotAccessible, p, fi.Mode().Perm(), u, p)
		}
	}
	return nil
}

func (u *serverUser) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	if st.Uid == u.uid {
		return perm&0o100 != 0
	}
	if st.Gid == u.gid {
		return perm&0o010 != 0
	}
	for _, g := range u.groups {
		if st.Gid == g {
			return perm&0o010 != 0
		}
	}
	return perm&0o001 != 0
}
