package hoststate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

var (
	// ErrNotFound: no record for the key. For DEL this means nothing was
	// done (or all of it was undone).
	ErrNotFound = errors.New("hoststate: attachment not found")
	// ErrCorrupt marks a record that cannot be decoded or does not belong
	// to the key its file name stands for.
	ErrCorrupt = errors.New("hoststate: corrupt attachment record")
)

const (
	recordSuffix = ".json"
	// Encoded names start with prefixEscaped, hashed ones with prefixHashed,
	// so the two schemes can never produce the same name.
	prefixEscaped = "k."
	prefixHashed  = "h."
	tempPrefix    = ".tmp-"
	// maxEscapedName keeps names well below NAME_MAX (255) on every common
	// file system; longer keys are hashed.
	maxEscapedName = 200
)

// Store keeps one JSON file per attachment in a directory. Its methods are
// safe for concurrent use; callers serialise the work on one key with a
// [Locker], so two Saves of the same key do not race in practice (and if
// they did, one complete record would win).
//
// A directory must be used by one Store (one agent process) at a time:
// Open removes the temporary files a crash may have left behind.
type Store struct {
	dir string
	// seen caches, per record file, the key and device of the records this
	// store wrote or read, so Devices reads only files it has not seen.
	mu   sync.Mutex
	seen map[string]claim
}

// claim is what Devices needs of one record.
type claim struct {
	key    Key
	device string
}

// Open creates dir (mode 0700: records name pods and network namespaces)
// if needed and returns a Store over it.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("hoststate: empty state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hoststate: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hoststate: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			// A Save interrupted before its rename; the previous record
			// (if any) is still intact under its real name.
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Store{dir: dir, seen: map[string]claim{}}, nil
}

// Dir returns the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Save writes the record atomically: after a crash, the file holds either
// the previous record or this one, never a mix. It stamps a.Version and
// a.UpdatedAt, and a.CreatedAt if unset.
func (s *Store) Save(a *Attachment) error {
	if a == nil {
		return errors.New("hoststate: Save of nil attachment")
	}
	// JSON would silently turn invalid UTF-8 into U+FFFD, and the record
	// would then no longer match its own key. (gRPC strings are UTF-8, so
	// such a key cannot arrive through the agent's API anyway.)
	if !utf8.ValidString(a.Key.ContainerID) || !utf8.ValidString(a.Key.IfName) {
		return fmt.Errorf("hoststate: save %q: key is not valid UTF-8", a.Key)
	}
	now := time.Now().UTC()
	a.Version = SchemaVersion
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("hoststate: encode %s: %w", a.Key, err)
	}
	data = append(data, '\n')
	name := fileName(a.Key)
	if err := s.writeAtomic(name, data); err != nil {
		return fmt.Errorf("hoststate: save %s: %w", a.Key, err)
	}
	s.remember(name, a)
	return nil
}

func (s *Store) remember(name string, a *Attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[name] = claim{key: a.Key, device: a.DeviceID}
}

func (s *Store) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, name)
}

// Devices returns, for every record, the device (VF PCI address) it
// holds. It lists the directory — so it notices records another process
// added or removed — but reads only the files it has not seen: the rest it
// knows from its own Saves and earlier reads, which keeps a burst of ADDs,
// each asking whether its VF is free, from reading every record every
// time. Unreadable records are reported as List reports them, alongside
// the readable ones.
func (s *Store) Devices() (map[Key]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("hoststate: %w", err)
	}
	out := make(map[Key]string, len(entries))
	present := make(map[string]bool, len(entries))
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !isRecordName(name) || !e.Type().IsRegular() {
			continue
		}
		present[name] = true
		c, err := s.claimOf(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[c.key] = c.device
	}
	s.mu.Lock()
	for name := range s.seen {
		if !present[name] {
			delete(s.seen, name) // removed behind our back
		}
	}
	s.mu.Unlock()
	return out, errors.Join(errs...)
}

// claimOf is the cached claim of a record file, read on first sight.
func (s *Store) claimOf(name string) (claim, error) {
	s.mu.Lock()
	c, ok := s.seen[name]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	path := filepath.Join(s.dir, name)
	a, err := readRecord(path)
	if err == nil && fileName(a.Key) != name {
		err = fmt.Errorf("%w: %s: holds key %s, which belongs in %s", ErrCorrupt, path, a.Key, fileName(a.Key))
	}
	if err != nil {
		return claim{}, err
	}
	s.remember(name, a)
	return claim{key: a.Key, device: a.DeviceID}, nil
}

func (s *Store) writeAtomic(name string, data []byte) (err error) {
	// The temporary file must be in the same directory: rename is only
	// atomic within one file system.
	f, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	// Without this, a crash after the rename can leave an empty file under
	// the real name on file systems that reorder data and metadata.
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return err
	}
	return s.syncDir()
}

// syncDir makes a rename or unlink durable; until then a crash can bring
// back the old directory entry.
func (s *Store) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// Load returns the record for key, ErrNotFound if there is none, or an
// error wrapping ErrCorrupt naming the file if it cannot be used.
func (s *Store) Load(key Key) (*Attachment, error) {
	path := filepath.Join(s.dir, fileName(key))
	a, err := readRecord(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, err
	}
	if a.Key != key {
		return nil, fmt.Errorf("%w: %s: holds key %s, want %s", ErrCorrupt, path, a.Key, key)
	}
	return a, nil
}

// Delete removes the record for key; a missing record is not an error, so
// a repeated DEL succeeds.
func (s *Store) Delete(key Key) error {
	name := fileName(key)
	s.forget(name)
	err := os.Remove(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hoststate: delete %s: %w", key, err)
	}
	if err := s.syncDir(); err != nil {
		return fmt.Errorf("hoststate: delete %s: %w", key, err)
	}
	return nil
}

// List returns every readable record, ordered by key. Records that cannot
// be used do not hide the others: they are reported in the returned error
// (wrapping ErrCorrupt, one entry per file) alongside the good records, so
// GC can proceed and an operator can find the bad files.
func (s *Store) List() ([]*Attachment, error) {
	return s.list(func(*Attachment) bool { return true })
}

// ListByNetwork is List restricted to one CNI network name.
func (s *Store) ListByNetwork(network string) ([]*Attachment, error) {
	return s.list(func(a *Attachment) bool { return a.Network == network })
}

func (s *Store) list(keep func(*Attachment) bool) ([]*Attachment, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("hoststate: %w", err)
	}
	var (
		out  []*Attachment
		errs []error
	)
	for _, e := range entries {
		name := e.Name()
		if !isRecordName(name) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(s.dir, name)
		a, err := readRecord(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err == nil && fileName(a.Key) != name {
			err = fmt.Errorf("%w: %s: holds key %s, which belongs in %s", ErrCorrupt, path, a.Key, fileName(a.Key))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if keep(a) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key.ContainerID != out[j].Key.ContainerID {
			return out[i].Key.ContainerID < out[j].Key.ContainerID
		}
		return out[i].Key.IfName < out[j].Key.IfName
	})
	return out, errors.Join(errs...)
}

func readRecord(path string) (*Attachment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("hoststate: read %s: %w", path, err)
	}
	var a Attachment
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data after the record", ErrCorrupt, path)
	}
	switch {
	case a.Version == 0:
		return nil, fmt.Errorf("%w: %s: no schema version", ErrCorrupt, path)
	case a.Version > SchemaVersion:
		return nil, fmt.Errorf("%w: %s: schema version %d is newer than this agent's %d", ErrCorrupt, path, a.Version, SchemaVersion)
	}
	return &a, nil
}

// fileName maps a key to a file name injectively. Container ids are
// arbitrary strings (they may hold '/', '.', or be long), so each part is
// escaped: bytes outside [A-Za-z0-9_-] become %XX, which leaves '.' free to
// separate the parts and keeps common ids readable. Keys too long for a
// file name are hashed instead; the record itself holds the real key.
func fileName(k Key) string {
	name := prefixEscaped + escape(k.ContainerID) + "." + escape(k.IfName) + recordSuffix
	if len(name) <= maxEscapedName {
		return name
	}
	h := sha256.New()
	// Length-prefix the parts so ("ab","c") and ("a","bc") differ.
	fmt.Fprintf(h, "%d:%s%d:%s", len(k.ContainerID), k.ContainerID, len(k.IfName), k.IfName)
	return prefixHashed + hex.EncodeToString(h.Sum(nil)) + recordSuffix
}

func isRecordName(name string) bool {
	return strings.HasSuffix(name, recordSuffix) &&
		(strings.HasPrefix(name, prefixEscaped) || strings.HasPrefix(name, prefixHashed))
}

func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}
