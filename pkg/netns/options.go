package netns

import "log/slog"

// Option configures a Plumber.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

func newOptions(opts []Option) options {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithLogger sets the logger; default slog.Default(). Steps log at debug,
// rollbacks at warn, and steps that could not be undone at error.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
