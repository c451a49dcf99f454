// Command eidlink-host is the native-messaging host that Chrome and Firefox
// start for the eidlink extension. It speaks the protocol in PROTOCOL.md on
// stdin and stdout and logs to stderr (never a PIN). When the eidlink
// service runs, the host relays the messages to it; otherwise it drives the
// cards itself.
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

	"github.com/eidlink/eidlink/host/cli"
	"github.com/eidlink/eidlink/host/reader"
	"github.com/eidlink/eidlink/host/service"
)

func main() {
	// Browsers pass the caller as arguments (Chrome the extension origin,
	// Firefox the manifest path and the add-on id): nothing to act on.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, closeProvider := cli.HostConfig()
	cfg.Events = reader.Events // in-process only: the service has its own
	dial := service.DialDefault
	if os.Getenv("EIDLINK_SERVICE") == "off" { // a test profile's card, not the service's
		dial = func(context.Context) (*service.Conn, error) { return nil, errors.New("EIDLINK_SERVICE=off") }
	}
	err := service.ServeHost(ctx, cfg, dial, os.Stdin, os.Stdout)
	closeProvider()
	if err != nil && ctx.Err() == nil {
		cfg.Log.Error("host stopped", "error", err)
		os.Exit(1)
	}
}
