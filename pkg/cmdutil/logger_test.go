package cmdutil

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestNewLoggerLevels: --log-level of both daemons (cmdutil.Main) sets the
// lowest level logged, and refuses an unknown one naming the flag.
func TestNewLoggerLevels(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		level  string
		lowest slog.Level
	}{{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}, {"INFO", slog.LevelInfo}} {
		log, err := NewLogger(tc.level)
		if err != nil {
			t.Fatalf("%s: %v", tc.level, err)
		}
		if !log.Enabled(ctx, tc.lowest) || log.Enabled(ctx, tc.lowest-1) {
			t.Errorf("--log-level %s: lowest level logged is not %v", tc.level, tc.lowest)
		}
	}
	if _, err := NewLogger("loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("--log-level loud: err %v, want one naming the flag", err)
	}
}
