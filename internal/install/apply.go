package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// applier makes actions happen and records them in st.
type applier struct {
	st        *state
	stateFile string
	owner     owner // for user installs run by root: the user's ids
}

func newApplier(stateFile string, own owner) (*applier, error) {
	st, err := loadState(stateFile)
	if err != nil {
		return nil, err
	}
	return &applier{st: st, stateFile: stateFile, owner: own}, nil
}

// ownerFor is who should own what a scope's install writes: the user
// whose home it is, for user installs.
func ownerFor(s Scope, home string) owner {
	if s == User {
		return ownerOf(home)
	}
	return owner{}
}

func (a *applier) save() error {
	b, _ := json.MarshalIndent(a.st, "", "  ") // plain data: cannot fail
	if err := writeFile(a.stateFile, append(b, '\n')); err != nil {
		return err
	}
	return a.owner.apply(a.stateFile)
}

// apply makes act happen; note says why it did not need to.
func (a *applier) apply(act action) (note string, err error) {
	switch act.op {
	case opFile:
		if err := a.mkdirs(filepath.Dir(act.path), act.browser); err != nil {
			return "", err
		}
		if err := writeFile(act.path, act.data); err != nil {
			return "", err
		}
		a.st.add(record{Op: opFile, Browser: act.browser, Path: act.path})
		return "", a.owner.apply(act.path)
	case opJSON:
		_, statErr := os.Stat(act.path)
		created := errors.Is(statErr, fs.ErrNotExist)
		if err := a.mkdirs(filepath.Dir(act.path), act.browser); err != nil {
			return "", err
		}
		doc, err := readDoc(act.path)
		var prev json.RawMessage // an administrator's value, restored by Uninstall
		if old, ok := getKey(doc, act.keys); ok && err == nil {
			if b, _ := json.Marshal(old); string(b) != mustJSON(act.jsonVal) {
				prev = b
			}
		}
		if err == nil {
			err = setKey(doc, act.keys, act.jsonVal)
		}
		if err == nil {
			err = writeFile(act.path, docJSON(doc))
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", act.path, err)
		}
		a.st.add(record{Op: opJSON, Browser: act.browser, Path: act.path, Keys: act.keys, Created: created, Prev: prev})
		return "", nil
	case opReg, opRegSeq:
		created, err := regCreateKey(act.path)
		for _, k := range created {
			a.st.add(record{Op: opRegKey, Browser: act.browser, Path: k})
		}
		if err != nil {
			return "", err
		}
		name := act.name
		if act.op == opRegSeq {
			name, err = regAppendSeq(act.path, act.value)
		} else {
			err = regSetString(act.path, act.name, act.value)
		}
		if err != nil {
			return "", err
		}
		a.st.add(record{Op: opReg, Browser: act.browser, Path: act.path, Name: name})
		return "", nil
	case opNSS:
		mods, err := nssModules(act.path)
		if err != nil {
			return "", err
		}
		for name, lib := range mods {
			if name != act.name && filepath.Clean(lib) == filepath.Clean(act.value) {
				return fmt.Sprintf("%s is already in NSS database %s as %q: left as it is", act.value, act.path, name), nil
			}
		}
		if lib := mods[act.name]; lib != act.value {
			if lib != "" { // an older path: the module moved
				if err := nssDelete(act.path, act.name); err != nil {
					return "", err
				}
			}
			if err := nssAdd(act.path, act.name, act.value); err != nil {
				return "", err
			}
		}
		a.st.add(record{Op: opNSS, Path: act.path, Name: act.name})
		return "", nil
	case opRemember:
		return "", a.remember(act)
	case opUnload:
		return "", nssDelete(act.path, act.name)
	}
	return "", fmt.Errorf("unknown action %q", act.op)
}

// remember puts act's certificate choice in a Firefox profile's
// ClientAuthRememberList.bin, recording the values it replaces.
func (a *applier) remember(act action) error {
	if users := dbUsers(filepath.Dir(act.path)); len(users) > 0 {
		return &Error{
			Message: fmt.Sprintf("Firefox profile %s is in use by %s", filepath.Dir(act.path), strings.Join(users, ", ")),
			Fix:     "close Firefox, then run the command again",
		}
	}
	data, err := os.ReadFile(act.path)
	created := errors.Is(err, fs.ErrNotExist)
	if err != nil && !created {
		return err
	}
	slots, err := parseRemember(data)
	if err != nil {
		return fmt.Errorf("%s: %w", act.path, err)
	}
	prev := map[string]string{}
	for _, r := range a.st.Records { // what an earlier install found there
		if r.Op == opRemember && r.Path == act.path {
			json.Unmarshal(r.Prev, &prev)
			created = created || r.Created
		}
	}
	for _, k := range act.keys {
		if v, ok := rememberGet(slots, k); ok && v != act.name {
			if _, kept := prev[k]; !kept {
				prev[k] = v
			}
		}
		if slots, err = rememberPut(slots, k, act.name, time.Now()); err != nil {
			return err
		}
	}
	if err := writeFile(act.path, encodeRemember(slots)); err != nil {
		return err
	}
	b, _ := json.Marshal(prev) // strings only: cannot fail
	a.st.add(record{Op: opRemember, Browser: act.browser, Path: act.path, Name: act.name, Keys: act.keys, Created: created, Prev: b})
	return a.owner.apply(act.path)
}

// forget reverts r, an opRemember: the entry keys that still hold the
// choice eidlink remembered get their earlier values back, or go.
func (a *applier) forget(r record) error {
	data, err := os.ReadFile(r.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if users := dbUsers(filepath.Dir(r.Path)); len(users) > 0 {
		return &Error{
			Message: fmt.Sprintf("Firefox profile %s is in use by %s", filepath.Dir(r.Path), strings.Join(users, ", ")),
			Fix:     "close Firefox, then run the command again",
		}
	}
	slots, err := parseRemember(data)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Path, err)
	}
	prev := map[string]string{}
	json.Unmarshal(r.Prev, &prev)
	for _, k := range r.Keys {
		if v, _ := rememberGet(slots, k); v != r.Name {
			continue // the person chose again since
		}
		if p, ok := prev[k]; ok {
			slots, err = rememberPut(slots, k, p, time.Now())
		} else {
			rememberDelete(slots, k)
		}
		if err != nil {
			return err
		}
	}
	for len(slots) > 0 && slots[len(slots)-1].score == 0 {
		slots = slots[:len(slots)-1] // the slots eidlink added, now empty
	}
	if r.Created && len(slots) == 0 {
		return os.Remove(r.Path)
	}
	return writeFile(r.Path, encodeRemember(slots))
}

// revert undoes r. What is already gone is not an error.
func (a *applier) revert(r record) error {
	switch r.Op {
	case opDir:
		if err := os.Remove(r.Path); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(r.Path) {
			return err
		}
		return nil
	case opFile:
		if err := os.Remove(r.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	case opJSON:
		doc, err := readDoc(r.Path)
		if err != nil {
			return err
		}
		if r.Prev != nil {
			var v any
			if err := json.Unmarshal(r.Prev, &v); err != nil {
				return err
			}
			if err := setKey(doc, r.Keys, v); err != nil {
				return err
			}
		} else {
			deleteKey(doc, r.Keys)
		}
		if len(doc) == 0 && r.Created {
			return a.revert(record{Op: opFile, Path: r.Path})
		}
		if _, err := os.Stat(r.Path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return writeFile(r.Path, docJSON(doc))
	case opRegKey:
		return regDeleteKeyIfEmpty(r.Path)
	case opReg:
		return regDeleteValue(r.Path, r.Name)
	case opRemember:
		return a.forget(r)
	case opNSS:
		if !isNSSDB(r.Path) {
			return nil
		}
		mods, err := nssModules(r.Path)
		if err != nil || mods[r.Name] == "" {
			return err
		}
		return nssDelete(r.Path, r.Name)
	}
	return fmt.Errorf("unknown record %q", r.Op)
}

// mkdirs creates dir and its missing parents, recording each one it
// creates so that Uninstall can remove it again.
func (a *applier) mkdirs(dir, browser string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		a.st.add(record{Op: opDir, Browser: browser, Path: missing[i]})
		if err := a.owner.apply(missing[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeFile replaces file with data atomically, unless it holds data
// already.
func writeFile(file string, data []byte) error {
	if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".eidlink-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func isNotEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}
