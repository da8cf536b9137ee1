package tlsutil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader holds the current certificate and CA pool read from Files and
// replaces them when the files change. It is safe for concurrent use.
type Reloader struct {
	files Files
	opts  options
	cur   atomic.Pointer[material]

	mu      sync.Mutex // serializes reloads; guards the fields below
	checked time.Time
	seen    [sha256.Size]byte // contents last parsed, good or not
	seenErr error             // their parse error, nil if they are cur
	err     error
}

type material struct {
	cert *tls.Certificate
	pool *x509.CertPool
}

// NewReloader loads files, which must all be set and valid: an agent
// should refuse to start on material it could never use.
func NewReloader(files Files, opts ...Option) (*Reloader, error) {
	if err := files.requireAll(); err != nil {
		return nil, err
	}
	r := &Reloader{files: files, opts: newOptions(opts)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

// Run re-reads the files every poll interval until ctx ends, then returns
// nil. A nil Reloader (TLS off) returns at once.
func (r *Reloader) Run(ctx context.Context) error {
	if r == nil {
		return nil
	}
	t := time.NewTicker(r.opts.pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = r.Reload()
		}
	}
}

// Reload re-reads the files now. On error the previous material stays in
// use; the error is also kept for Err.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

// Err returns the error of the last reload, nil once the files load again.
func (r *Reloader) Err() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Certificate returns the current certificate; its Leaf is set.
func (r *Reloader) Certificate() *tls.Certificate {
	return r.cur.Load().cert
}

// CAPool returns the current CA pool.
func (r *Reloader) CAPool() *x509.CertPool {
	return r.cur.Load().pool
}

// maybeReload lets handshakes pick up a change even when nobody calls Run.
// TryLock keeps handshakes from queueing behind a slow read: whoever loses
// the race uses the material as it is.
func (r *Reloader) maybeReload() {
	if !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	if time.Since(r.checked) >= r.opts.pollInterval {
		_ = r.reloadLocked()
	}
}

// reloadLocked compares contents, not mtimes: a same-size rewrite within
// one mtime tick would otherwise go unnoticed forever, and the files are
// small enough to read on every poll.
func (r *Reloader) reloadLocked() error {
	r.checked = time.Now()
	raw, err := readFiles(r.files)
	if err != nil {
		return r.setErr(err)
	}
	if sum := raw.sum(); sum != r.seen {
		r.seen = sum
		r.seenErr = r.install(raw)
	}
	return r.setErr(r.seenErr)
}

func (r *Reloader) install(raw rawFiles) error {
	m, err := raw.parse(r.files)
	if err != nil {
		return err
	}
	first := r.cur.Load() == nil
	r.cur.Store(m)
	msg, leaf := "TLS certificate reloaded", m.cert.Leaf
	if first {
		msg = "TLS certificate loaded"
	}
	r.opts.logger.Info(msg, "cert", r.files.Cert, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.String(), "notAfter", leaf.NotAfter)
	return nil
}

// setErr logs only a change of error, so a file that stays broken is
// reported once, not every poll.
func (r *Reloader) setErr(err error) error {
	if err != nil && (r.err == nil || r.err.Error() != err.Error()) && r.cur.Load() != nil {
		r.opts.logger.Warn("TLS files unusable, keeping the previous certificate and CA", "err", err)
	}
	r.err = err
	return err
}

type rawFiles struct{ cert, key, ca []byte }

func readFiles(f Files) (rawFiles, error) {
	var raw rawFiles
	var err error
	if raw.cert, err = os.ReadFile(f.Cert); err != nil {
		return raw, fmt.Errorf("tlsutil: cert: %w", err)
	}
	if raw.key, err = os.ReadFile(f.Key); err != nil {
		return raw, fmt.Errorf("tlsutil: key: %w", err)
	}
	if raw.ca, err = os.ReadFile(f.CA); err != nil {
		return raw, fmt.Errorf("tlsutil: ca: %w", err)
	}
	return raw, nil
}

func (raw rawFiles) sum() [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{raw.cert, raw.key, raw.ca} {
		// Length-prefixed so that bytes moving between files still count.
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}

func (raw rawFiles) parse(f Files) (*material, error) {
	cert, err := tls.X509KeyPair(raw.cert, raw.key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: cert %s, key %s: %w", f.Cert, f.Key, err)
	}
	pool, err := parseCAs(raw.ca)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: ca %s: %w", f.CA, err)
	}
	return &material{cert: &cert, pool: pool}, nil
}

// parseCAs is stricter than CertPool.AppendCertsFromPEM, which skips what
// it cannot parse: a truncated bundle must not silently drop a CA.
func parseCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		pool.AddCert(c)
		n++
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return nil, errors.New("data that is not PEM")
	}
	if n == 0 {
		return nil, errors.New("no certificate")
	}
	return pool, nil
}
