package devlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Source keeps a Table current until ctx ends: FileSource from a dump file,
// a netlink source from devlink notifications.
type Source interface {
	Run(ctx context.Context) error
}

// racyWindow is how long after a file's mtime a read may have missed a
// same-size rewrite within the filesystem's timestamp granularity; until
// it has passed, the file is re-read even though stat looks unchanged.
const racyWindow = 2 * time.Second

// FileSource feeds a Table from a `devlink -j port show` dump file (the
// agent's --devlink-dump), re-reading it whenever it changes. Test beds
// without DPU hardware describe their representors this way.
type FileSource struct {
	path  string
	table *Table
	opts  options
	log   *slog.Logger

	mu      sync.Mutex // Load may run while Run polls
	stat    fileStat
	recheck bool
	applied [sha256.Size]byte // content hash of good
	good    []Port            // last successfully parsed dump, for resyncs
	loaded  bool              // good is valid (an empty dump is a valid one)
	lastErr string
}

type fileStat struct {
	mtime time.Time
	size  int64
}

var _ Source = (*FileSource)(nil)

// NewFileSource watches path and loads it into table; options:
// WithPollInterval, WithResyncInterval, WithLogger.
func NewFileSource(path string, table *Table, opts ...Option) *FileSource {
	o := newOptions(opts)
	return &FileSource{path: path, table: table, opts: o, log: o.logger.With("component", "devlink", "path", path)}
}

// Load reads and applies the file now and reports any error, for a first
// load whose failure the caller wants to see (or treat as fatal).
func (s *FileSource) Load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, st, err := s.read()
	if err != nil {
		return err
	}
	return s.apply(data, st)
}

// Run polls the file until ctx ends and returns nil then. A missing or
// malformed file is logged and retried; the table keeps the last good dump,
// so a half-written file never empties it.
func (s *FileSource) Run(ctx context.Context) error {
	poll := time.NewTicker(s.opts.pollInterval)
	defer poll.Stop()
	var resync <-chan time.Time
	if s.opts.resyncInterval > 0 {
		t := time.NewTicker(s.opts.resyncInterval)
		defer t.Stop()
		resync = t.C
	}
	s.poll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			s.poll()
		case <-resync:
			s.resync()
		}
	}
}

func (s *FileSource) poll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if err != nil {
		s.report(slog.LevelWarn, fmt.Errorf("devlink dump %s: %w", s.path, err))
		return
	}
	st := fileStat{fi.ModTime(), fi.Size()}
	if st.mtime.Equal(s.stat.mtime) && st.size == s.stat.size && !s.recheck {
		return
	}
	data, st, err := s.read()
	if err != nil {
		s.report(slog.LevelWarn, err)
		return
	}
	if err := s.apply(data, st); err != nil {
		s.report(slog.LevelError, err)
		return
	}
	if s.lastErr != "" {
		s.log.Info("devlink dump usable again")
		s.lastErr = ""
	}
}

// read returns the contents with the stat taken before reading, so a write
// racing the read shows up as a change on the next poll.
func (s *FileSource) read() ([]byte, fileStat, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, fileStat{}, fmt.Errorf("devlink dump %s: %w", s.path, err)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fileStat{}, fmt.Errorf("devlink dump %s: %w", s.path, err)
	}
	return data, fileStat{fi.ModTime(), fi.Size()}, nil
}

// apply parses data and replaces the table unless the content is what was
// last applied; a parse error leaves the table as it was.
func (s *FileSource) apply(data []byte, st fileStat) error {
	s.stat = st
	s.recheck = time.Since(st.mtime) < racyWindow
	hash := sha256.Sum256(data)
	if s.loaded && hash == s.applied {
		return nil
	}
	ports, err := ParseDump(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("devlink dump %s (keeping the last good one): %w", s.path, err)
	}
	s.good, s.applied, s.loaded = ports, hash, true
	s.table.Replace(ports)
	s.log.Info("loaded devlink dump", "ports", len(ports), "pfs", len(s.table.KnownPFs()))
	return nil
}

// report logs each distinct failure once, not at every poll.
func (s *FileSource) report(level slog.Level, err error) {
	if err.Error() == s.lastErr {
		return
	}
	s.lastErr = err.Error()
	s.log.Log(context.Background(), level, "devlink dump not applied", "err", err)
}

func (s *FileSource) resync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		s.table.Replace(s.good)
	}
}
