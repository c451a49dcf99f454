package install

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// splitKey parses `HKCU\Software\...` into a root key and a path.
func splitKey(key string) (registry.Key, string, error) {
	root, path, _ := strings.Cut(key, `\`)
	switch root {
	case "HKCU":
		return registry.CURRENT_USER, path, nil
	case "HKLM":
		return registry.LOCAL_MACHINE, path, nil
	}
	return 0, "", fmt.Errorf("registry key %s: unknown root", key)
}

// regCreateKey creates key and its missing parents, and returns the keys
// it created, parents first.
func regCreateKey(key string) ([]string, error) {
	root, path, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	var created []string
	parts := strings.Split(path, `\`)
	for i := range parts {
		sub := strings.Join(parts[:i+1], `\`)
		k, existed, err := registry.CreateKey(root, sub, registry.CREATE_SUB_KEY)
		if err != nil {
			return created, fmt.Errorf("registry key %s: %w", key, err)
		}
		k.Close()
		if !existed {
			created = append(created, key[:strings.Index(key, `\`)+1]+sub)
		}
	}
	return created, nil
}

func openKey(key string, access uint32) (registry.Key, error) {
	root, path, err := splitKey(key)
	if err != nil {
		return 0, err
	}
	return registry.OpenKey(root, path, access)
}

func regSetString(key, name, value string) error {
	k, err := openKey(key, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	return k.SetStringValue(name, value)
}

func regGetString(key, name string) (string, error) {
	k, err := openKey(key, registry.QUERY_VALUE)
	if err != nil {
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue(name)
	return v, err
}

// regAppendSeq adds value to the list policy in key, whose items are the
// values named 1, 2, 3...: it returns the name of the item holding value,
// appending one after the last when none does.
func regAppendSeq(key, value string) (string, error) {
	k, err := openKey(key, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		return "", err
	}
	defer k.Close()
	n := 1
	for ; ; n++ {
		v, _, err := k.GetStringValue(strconv.Itoa(n))
		if errors.Is(err, registry.ErrNotExist) {
			break
		}
		if err == nil && v == value {
			return strconv.Itoa(n), nil
		}
	}
	return strconv.Itoa(n), k.SetStringValue(strconv.Itoa(n), value)
}

func regDeleteValue(key, name string) error {
	k, err := openKey(key, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	return nil
}

// regDeleteKeyIfEmpty deletes key when it has no subkeys and no values.
func regDeleteKeyIfEmpty(key string) error {
	k, err := openKey(key, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	info, err := k.Stat()
	k.Close()
	if err != nil || info.SubKeyCount > 0 || info.ValueCount > 0 {
		return err
	}
	root, path, _ := splitKey(key)
	return registry.DeleteKey(root, path)
}
