// Command eidlink-mockhost is a native-messaging host with scripted
// behaviours (internal/mockhost), registered in place of eidlink-host to test
// the extension and login pages without a card. "eidlink dev-profile
// --host mock" registers it in a browser profile.
//
// It ignores its arguments (browsers pass the caller) and reads:
//
//	EIDLINK_MOCK_SCENARIO     the scenario (default ok; eidlink-mockhost -h lists them)
//	EIDLINK_MOCK_CARD         the mock card's directory (eidlink dev-profile makes one)
//	EIDLINK_MOCK_PIN_TIMEOUT  how long to wait for the PIN, e.g. 30s
//	EIDLINK_LOG               debug, info, warn (default) or error; logs go to stderr
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eidlink/eidlink/internal/logging"
	"github.com/eidlink/eidlink/internal/mockhost"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help") {
		fmt.Println("eidlink-mockhost: a native-messaging host with scripted behaviours, for tests.\n\nEIDLINK_MOCK_SCENARIO is one of:")
		for _, s := range mockhost.Scenarios {
			fmt.Printf("  %-15s %s\n", s.Name, s.About)
		}
		return
	}
	log := logging.New(os.Stderr)
	o := mockhost.Options{Scenario: os.Getenv("EIDLINK_MOCK_SCENARIO"), Log: log}
	if d := os.Getenv("EIDLINK_MOCK_PIN_TIMEOUT"); d != "" {
		var err error
		if o.PINTimeout, err = time.ParseDuration(d); err != nil || o.PINTimeout <= 0 {
			fail(log, fmt.Errorf("EIDLINK_MOCK_PIN_TIMEOUT=%q is not a positive duration", d))
		}
	}
	if dir := os.Getenv("EIDLINK_MOCK_CARD"); dir != "" && mockhost.NeedsCard(o.Scenario) {
		card, err := mockhost.LoadCard(dir)
		if err != nil {
			fail(log, err)
		}
		o.Card = card
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := mockhost.Serve(ctx, o, os.Stdin, os.Stdout)
	if errors.Is(err, mockhost.ErrCrashed) {
		log.Error("crashing as scripted")
		os.Exit(70)
	}
	if err != nil && ctx.Err() == nil {
		fail(log, err)
	}
}

func fail(log *slog.Logger, err error) {
	log.Error("mock host stopped", "error", err)
	os.Exit(1)
}
