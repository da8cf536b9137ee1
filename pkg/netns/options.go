package netns

import "log/slog"

// Option configures a Plumber.
type Option func(*options)

type options struct {
	logger  *slog.Logger
	threads int
}

func newOptions(opts []Option) options {
	o := options{logger: slog.Default(), threads: DefaultThreads}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithThreads bounds how many OS threads the Plumber keeps inside
// namespaces at once (default DefaultThreads; at least 1).
func WithThreads(n int) Option {
	return func(o *options) { o.threads = max(n, 1) }
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
