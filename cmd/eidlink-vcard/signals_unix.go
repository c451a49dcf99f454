//go:build unix

package main

import (
	"os"
	"syscall"
)

// signals insert (SIGUSR1) and remove (SIGUSR2) the card.
var signals = map[os.Signal]string{syscall.SIGUSR1: "insert", syscall.SIGUSR2: "remove"}
