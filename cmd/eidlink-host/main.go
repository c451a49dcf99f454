// Command eidlink-host is the native-messaging host that Chrome and Firefox
// start for the eidlink extension. It speaks the protocol in PROTOCOL.md on
// stdin and stdout and logs to stderr (never a PIN). When the user's own
// eidlink service runs, the host relays the messages to it; otherwise it
// drives the cards itself.
//
// Set EIDLINK_DEVELOPER_MODE=1 to accept http://localhost origins,
// EIDLINK_SERVICE=off to never relay to the service, and EIDLINK_LOG=debug
// for more logging.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eidlink/eidlink/internal/cli"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/reader"
	"github.com/eidlink/eidlink/internal/service"
)

// exitGrace is how long the host waits, after SIGTERM or SIGINT, for the
// command in progress to end.
const exitGrace = 2 * time.Second

func main() {
	// Browsers pass the caller as arguments (Chrome the extension origin,
	// Firefox the manifest path and the add-on id): nothing to act on.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, closeProvider := cli.HostConfig()
	cfg.Events = reader.Events // in-process only: the service has its own
	dial := ipc.DialDefault
	if os.Getenv("EIDLINK_SERVICE") == "off" { // a test profile's card, not the service's
		dial = func(context.Context) (*ipc.Conn, error) { return nil, errors.New("EIDLINK_SERVICE=off") }
	}
	done := make(chan error, 1)
	go func() { done <- service.ServeHost(ctx, cfg, dial, os.Stdin, os.Stdout) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// Card calls end within seconds on their own, but a signal means
		// now: never wait long for one that has not returned.
		select {
		case err = <-done:
		case <-time.After(exitGrace):
			cfg.Log.Warn("exiting with a card call still running")
			return
		}
	}
	closeProvider()
	if err != nil && ctx.Err() == nil {
		cfg.Log.Error("host stopped", "error", err)
		os.Exit(1)
	}
}
