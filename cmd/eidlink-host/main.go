// Command eidlink-host is the native-messaging host that Chrome and Firefox
// start for the eidlink extension. It speaks the protocol in PROTOCOL.md on
// stdin and stdout and logs to stderr (never a PIN).
//
// Set EIDLINK_DEVELOPER_MODE=1 to accept http://localhost origins, and
// EIDLINK_LOG=debug for more logging.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eidlink/eidlink/host/cli"
	"github.com/eidlink/eidlink/host/command"
)

func main() {
	// Browsers pass the caller as arguments (Chrome the extension origin,
	// Firefox the manifest path and the add-on id): nothing to act on.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, closeProvider := cli.HostConfig()
	err := command.ServeStream(ctx, cfg, os.Stdin, os.Stdout, nil)
	closeProvider()
	if err != nil && ctx.Err() == nil {
		cfg.Log.Error("host stopped", "error", err)
		os.Exit(1)
	}
}
