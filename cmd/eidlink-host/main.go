// Command eidlink-host is the native-messaging host that Chrome and Firefox
// start for the eidlink extension. It speaks the protocol in PROTOCOL.md on
// stdin and stdout, logs to stderr (never a PIN), and relays every message
// to the user's own eidlink service, which owns the cards: when none
// answers, it starts one ("eidlink service run --idle-exit", the eidlink
// next to it or on PATH) and relays to that. It never touches a card
// itself, and is built without cgo; nor does it link net/http (its
// WebSocket client is package ipc's own): it starts nearly as fast as the
// smallest Go program.
//
// Set EIDLINK_LOG=debug for more logging; EIDLINK_CONFIG_DIR and
// EIDLINK_RUNTIME_DIR give a test profile a service of its own (see
// "eidlink dev-profile"). The service it starts inherits its environment.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eidlink/eidlink/internal/logging"
)

func main() {
	// Browsers pass the caller as arguments (Chrome the extension origin,
	// Firefox the manifest path and the add-on id): nothing to act on.
	// The browser waits for the version message: it goes first, before
	// anything else starts. Catching signals costs a tenth of the host's
	// start-up (the runtime hands them to a thread of their own, which it
	// starts and waits for), so they are caught just after: a SIGTERM in
	// between ends the host by the signal itself, before it holds anything.
	if err := hello(os.Stdout); err != nil {
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logging.New(os.Stderr)
	err := serve(ctx, log, connector{log: log}.connect, os.Stdin, os.Stdout)
	if err != nil && ctx.Err() == nil {
		log.Error("host stopped", "error", err)
		os.Exit(1)
	}
}
