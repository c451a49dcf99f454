package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// NSS databases (Chrome and Chromium on Linux read client certificates
// through the PKCS#11 modules listed in ~/.pki/nssdb): eidlink reads the
// module list from pkcs11.txt and changes it with modutil (package
// libnss3-tools), only while no process has the database open.

// nssModules returns the modules of the NSS database in dir, name to
// library, from its pkcs11.txt.
func nssModules(dir string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(dir, "pkcs11.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseNSSModules(f)
}

// parseNSSModules reads pkcs11.txt: blocks of key=value lines separated
// by blank lines, a module's library in "library=", its name in "name=".
func parseNSSModules(r io.Reader) (map[string]string, error) {
	mods := map[string]string{}
	var lib string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch v = strings.Trim(v, `"`); k {
		case "library":
			lib = v
		case "name":
			if lib != "" {
				mods[v] = lib
			}
		case "":
			lib = ""
		}
	}
	return mods, sc.Err()
}

// nssAdd registers the module lib as name in the database in dir.
func nssAdd(dir, name, lib string) error {
	return modutil(dir, "-add", name, "-libfile", lib)
}

// nssDelete removes the module name from the database in dir.
func nssDelete(dir, name string) error {
	return modutil(dir, "-delete", name)
}

func modutil(dir string, args ...string) error {
	if users := dbUsers(dir); len(users) > 0 {
		return &Error{
			Message: fmt.Sprintf("NSS database %s is in use by %s", dir, strings.Join(users, ", ")),
			Fix:     "close the browser, then run the command again",
		}
	}
	if _, err := exec.LookPath("modutil"); err != nil {
		return &Error{Message: "modutil is not installed", Fix: "install it (Debian, Ubuntu: apt-get install libnss3-tools; Fedora: dnf install nss-tools)"}
	}
	// modutil loads the module, and some (OpenSC) write caches under
	// $HOME: give them a scratch home, not the user's.
	scratch, err := os.MkdirTemp("", "eidlink-modutil-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	cmd := exec.Command("modutil", append([]string{"-dbdir", "sql:" + dir, "-force"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+scratch, "XDG_CACHE_HOME="+scratch)
	cmd.Stdin = strings.NewReader("\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("modutil %s %s in %s: %v: %s", args[0], args[1], dir, err, bytes.TrimSpace(out))
	}
	return chownLikeDir(dir)
}

// dbUsers names the processes ("chrome (pid 42)") that have a file of
// the database in dir open, read from /proc (Linux; elsewhere it finds
// none). A browser holds its NSS database open while it runs.
func dbUsers(dir string) []string {
	dir, _ = filepath.Abs(dir)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := strconv.Itoa(os.Getpid())
	var users []string
	for _, p := range procs {
		pid := filepath.Base(p)
		if pid == self {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join(p, "fd"))
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err == nil && filepath.Dir(target) == dir {
				comm, _ := os.ReadFile(filepath.Join(p, "comm"))
				users = append(users, fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), pid))
				break
			}
		}
	}
	return users
}
