//go:build unix

package install

import (
	"os"
	"syscall"
)

// owner is the user whose home a root-run user install writes into; the
// zero owner (not root, or root's own home) changes nothing.
type owner struct{ uid, gid int }

func ownerOf(home string) owner {
	fi, err := os.Stat(home)
	if err != nil || os.Geteuid() != 0 {
		return owner{}
	}
	st := fi.Sys().(*syscall.Stat_t)
	return owner{int(st.Uid), int(st.Gid)}
}

// apply gives path to o, so that files root writes for a user stay the
// user's.
func (o owner) apply(path string) error {
	if o.uid == 0 {
		return nil
	}
	return os.Lchown(path, o.uid, o.gid)
}

// chownLikeDir gives the files in dir to dir's owner when run as root:
// modutil run by root would leave the user an NSS database they cannot
// write.
func chownLikeDir(dir string) error {
	o := ownerOf(dir)
	entries, err := os.ReadDir(dir)
	if err != nil || o.uid == 0 {
		return err
	}
	for _, e := range entries {
		if err := o.apply(dir + "/" + e.Name()); err != nil {
			return err
		}
	}
	return nil
}
