//go:build !unix

package main

import "os"

// signals: none outside Unix; use --control.
var signals = map[os.Signal]string{}
