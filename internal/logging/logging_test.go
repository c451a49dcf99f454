package logging

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
)

func TestLevelFromEnvironment(t *testing.T) {
	for _, c := range []struct {
		env  string
		want slog.Level
	}{{"", slog.LevelWarn}, {"debug", slog.LevelDebug}, {"INFO", slog.LevelInfo}, {"error", slog.LevelError}, {"loud", slog.LevelWarn}} {
		t.Setenv("EIDLINK_LOG", c.env)
		var b bytes.Buffer
		l := New(&b)
		if !l.Enabled(context.Background(), c.want) || c.want > slog.LevelDebug && l.Enabled(context.Background(), c.want-1) {
			t.Errorf("EIDLINK_LOG=%q: the logger's level is not %v", c.env, c.want)
		}
	}
}
