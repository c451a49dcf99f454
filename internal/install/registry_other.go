//go:build !windows

package install

import "errors"

var errNoRegistry = errors.New("the registry exists only on Windows")

func regCreateKey(string) ([]string, error)       { return nil, errNoRegistry }
func regSetString(string, string, string) error   { return errNoRegistry }
func regAppendSeq(string, string) (string, error) { return "", errNoRegistry }
func regDeleteValue(string, string) error         { return errNoRegistry }
func regDeleteKeyIfEmpty(string) error            { return errNoRegistry }
func regGetString(string, string) (string, error) { return "", errNoRegistry }
