// Package logging is how every eidlink program logs: text lines through
// log/slog, at the level EIDLINK_LOG names (debug, info, warn or error;
// warn when unset or unknown). Nothing logged ever holds a PIN.
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// New returns a logger writing to w (stderr for the native hosts: the
// browser keeps it) at the level EIDLINK_LOG names.
func New(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(os.Getenv("EIDLINK_LOG")))); err != nil || os.Getenv("EIDLINK_LOG") == "" {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
