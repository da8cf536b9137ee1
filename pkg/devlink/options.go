package devlink

import (
	"log/slog"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
)

// Option configures a Table (NewTable), a FileSource (NewFileSource) or a
// NetlinkSource (NewNetlinkSource); each ignores the options meant for the
// others.
type Option func(*options)

type options struct {
	sysfsRoot      string
	onChange       func()
	logger         *slog.Logger
	pollInterval   time.Duration
	resyncInterval time.Duration
}

func newOptions(opts []Option) options {
	o := options{
		sysfsRoot:      sysfs.DefaultRoot,
		logger:         slog.Default(),
		pollInterval:   time.Second,
		resyncInterval: 30 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithSysfsRoot sets where the Table reads PF MACs that devlink does not
// report (the agent's --sysfs-root); default sysfs.DefaultRoot.
func WithSysfsRoot(dir string) Option {
	return func(o *options) { o.sysfsRoot = dir }
}

// WithOnChange registers f to run after the Table's contents change, so the
// agent can reconcile ports that were waiting for a representor. f runs
// outside the Table's lock (it may call Lookup) but possibly from several
// goroutines at once, so it should only signal, e.g. a non-blocking send.
func WithOnChange(f func()) Option {
	return func(o *options) { o.onChange = f }
}

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithPollInterval sets how often a FileSource checks its file; default 1s.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pollInterval = d
		}
	}
}

// WithResyncInterval sets how often a FileSource re-applies the last good
// dump even when the file is unchanged, and how often a NetlinkSource dumps
// every devlink port even without notifications; either re-reads the sysfs
// MAC fallbacks (they may appear after the dump). Default 30s, 0 disables.
func WithResyncInterval(d time.Duration) Option {
	return func(o *options) { o.resyncInterval = d }
}
