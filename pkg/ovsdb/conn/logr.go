package conn

import (
	"log/slog"

	"github.com/go-logr/logr"
)

// logrFromSlog adapts our slog logger for libovsdb, which logs through logr;
// logr's V(n) becomes slog level -n, so libovsdb's verbose chatter stays
// below our debug level.
func logrFromSlog(l *slog.Logger) logr.Logger {
	return logr.FromSlogHandler(l.Handler())
}
