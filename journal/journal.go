package journal

// This file is the journal file's life cycle: Create, Open or Load, Commit,
// compaction, Close and Remove. The failure model is in the package doc.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"rget/internal/durable"
	"sync"
	"time"
)

const (
	// A durable commit compacts instead of appending once the file holds
	// compactRecords records or compactBytes bytes.
	compactRecords = 64
	compactBytes   = 1 << 20
	// A cheap commit compacts (and so pays an fsync) only past maxBytes, for
	// callers that commit durably rarely or never.
	maxBytes = 8 * compactBytes
)

// Journal is an open journal file to which states are committed. Its methods
// are safe for concurrent use; commits are serialized.
type Journal struct {
	path   string
	bootID string

	mu      sync.Mutex
	f       *os.File  // nil once closed
	size    int64     // bytes of intact records; the next record goes here
	records int       // records in the file
	broken  bool      // a write or sync failed: rewrite the file at the next commit
	durable []byte    // the last durable record in the file, nil if none
	cheap   []byte    // the last cheap record after it, nil if none
	buf     []byte    // the record being committed
	mirrors []string  // redacted mirrors of the state being committed
	hash    hash.Hash // a crypto/sha256 digest for State.validate
	// unsynced: the file and its name in the directory may not be on the
	// disk yet (a fresh journal's first record, see Create); the next
	// durable commit syncs the directory too.
	unsynced bool
	sync     syncer
}

// syncer makes a file, or a directory's entries, durable. Tests count the
// calls.
type syncer struct {
	file func(*os.File) error
	dir  func(string) error
}

// osSync is the syncer of the real file system.
func osSync() syncer { return syncer{file: (*os.File).Sync, dir: durable.SyncDir} }

// Create starts a new journal at path, replacing any previous one, with s as
// its first, durable record: it writes path+".tmp", fsyncs it, renames it to
// path and fsyncs the directory. Where no journal exists and s records
// nothing done, it does not wait for the disk: a power loss can take
// nothing such a record claims, and no older record can come back in its
// place. The first durable Commit then syncs the directory too. URLs in s
// are redacted and s.Saved is set; s must then pass State.Validate.
func Create(path string, s State) (*Journal, error) {
	return create(path, s, BootID(), time.Now(), osSync())
}

func create(path string, s State, bootID string, now time.Time, sy syncer) (*Journal, error) {
	j := &Journal{path: path, bootID: bootID, sync: sy}
	s = j.prepare(s, now)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("journal %s: create: %w", path, err)
	}
	rec := appendRecord(nil, s, bootID, true)
	_, err := os.Lstat(path)
	fresh := errors.Is(err, os.ErrNotExist) && s.BytesDone() == 0 && s.HashOffset == 0
	if err := j.replaceSynced(rec, nil, !fresh); err != nil {
		j.Close() // the file, if any, was renamed into place; the error above matters more
		return nil, fmt.Errorf("journal %s: create: %w", path, err)
	}
	return j, nil
}

// Load returns the state of the last trusted record of the journal at path,
// judged with the current boot id. A missing file yields an error for which
// errors.Is(err, os.ErrNotExist) holds; a journal with no trusted record, one
// wrapping ErrNoState.
func Load(path string) (State, error) {
	s, _, err := load(path, BootID())
	return s, err
}

func load(path, bootID string) (State, walked, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, walked{}, err
	}
	w := walk(data, bootID)
	s, err := w.result()
	if err != nil {
		return State{}, w, fmt.Errorf("journal %s: %w", path, err)
	}
	return s, w, nil
}

// Open loads the journal at path like Load and opens it for further commits.
// It first compacts the file to the records it trusts, so that untrusted
// records and a torn tail are gone before anything is appended.
func Open(path string) (*Journal, State, error) {
	return open(path, BootID(), osSync())
}

func open(path, bootID string, sy syncer) (*Journal, State, error) {
	s, w, err := load(path, bootID)
	if err != nil {
		return nil, State{}, err
	}
	j := &Journal{path: path, bootID: bootID, sync: sy}
	durable := append([]byte(nil), w.durable...)
	cheap := append([]byte(nil), w.cheap...)
	if err := j.replace(durable, cheap); err != nil {
		j.Close() // the file, if any, was renamed into place; the error above matters more
		return nil, State{}, fmt.Errorf("journal %s: open: %w", path, err)
	}
	return j, s, nil
}

// Commit appends a record of s. A cheap record (durable false) costs one
// write and no fsync; it must describe only bytes already written to the data
// file. A durable record is fsynced before Commit returns; as it is trusted
// even after a power loss, the caller must take s first, then sync the data
// file (fdatasync), then commit. Take s.HashOffset before the parts' Done
// counters (or both under one lock): a hash cursor past the completed prefix
// is invalid. URLs in s are redacted and s.Saved is set; s must then
// pass State.Validate. Commit reuses its buffers: in steady state it does not
// allocate.
func (j *Journal) Commit(s State, durable bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: commit: %w", j.path, os.ErrClosed)
	}
	s = j.prepare(s, time.Now())
	if j.hash == nil {
		j.hash = sha256.New()
	}
	if err := s.validate(j.hash); err != nil {
		return fmt.Errorf("journal %s: commit: %w", j.path, err)
	}
	j.buf = appendRecord(j.buf[:0], s, j.bootID, durable)
	var err error
	switch {
	case j.broken || j.size+int64(len(j.buf)) > maxBytes:
		err = j.compact(durable)
	case durable && (j.records >= compactRecords || j.size+int64(len(j.buf)) > compactBytes):
		err = j.compact(durable)
	default:
		err = j.append(durable)
	}
	if err != nil {
		return fmt.Errorf("journal %s: commit: %w", j.path, err)
	}
	return nil
}

// prepare redacts the URLs of s, using j's scratch slice for mirrors, and
// stamps it with now.
func (j *Journal) prepare(s State, now time.Time) State {
	s.URL = RedactURL(s.URL)
	if len(s.Mirrors) > 0 {
		j.mirrors = j.mirrors[:0]
		for _, m := range s.Mirrors {
			j.mirrors = append(j.mirrors, RedactURL(m))
		}
		s.Mirrors = j.mirrors
	}
	s.Saved = now
	return s
}

// append writes j.buf after the last intact record.
func (j *Journal) append(durable bool) error {
	if _, err := j.f.WriteAt(j.buf, j.size); err != nil {
		j.broken = true // a torn record may follow j.size
		return err
	}
	if durable {
		if err := j.sync.file(j.f); err != nil {
			j.broken = true
			return err
		}
		if j.unsynced {
			if err := j.sync.dir(filepath.Dir(j.path)); err != nil {
				j.broken = true // the file's name may not survive a power loss
				return err
			}
			j.unsynced = false
		}
	}
	j.size += int64(len(j.buf))
	j.records++
	if durable {
		j.durable, j.cheap = append(j.durable[:0], j.buf...), j.cheap[:0]
	} else {
		j.cheap = append(j.cheap[:0], j.buf...)
	}
	return nil
}

// compact replaces the file with the record in j.buf, preceded by the last
// durable record when j.buf is cheap.
func (j *Journal) compact(durable bool) error {
	if durable {
		return j.replace(j.buf, nil)
	}
	return j.replace(j.durable, j.buf)
}

// replace atomically replaces the file at j.path with the durable record d
// (if any) followed by the cheap record c (if any), and makes it j's file.
func (j *Journal) replace(d, c []byte) error { return j.replaceSynced(d, c, true) }

// replaceSynced is replace, which waits for the disk (syncs the file, then
// the directory) only if wait is set: else the next durable commit syncs
// both (see unsynced).
func (j *Journal) replaceSynced(d, c []byte, wait bool) error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := j.write(f, wait, d, c); err != nil {
		f.Close()      // the write error matters more
		os.Remove(tmp) // best effort: a stray tmp is never read
		j.broken = true
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		os.Remove(tmp)
		j.broken = true
		return err
	}
	// f is the journal now, whether or not the directory sync below succeeds.
	if j.f != nil {
		// The old file is unlinked and superseded; nothing of it is read
		// again, so its close error does not matter.
		j.f.Close()
	}
	j.f = f
	j.size = int64(len(d) + len(c))
	j.records = 0
	for _, r := range [][]byte{d, c} {
		if len(r) > 0 {
			j.records++
		}
	}
	j.durable = append(j.durable[:0], d...)
	j.cheap = append(j.cheap[:0], c...)
	j.unsynced = !wait
	if wait {
		if err := j.sync.dir(filepath.Dir(j.path)); err != nil {
			j.broken = true // the rename may not survive a power loss
			return err
		}
	}
	j.broken = false
	return nil
}

// write writes recs to f and, if wait is set, syncs it.
func (j *Journal) write(f *os.File, wait bool, recs ...[]byte) error {
	for _, r := range recs {
		if _, err := f.Write(r); err != nil {
			return err
		}
	}
	if !wait {
		return nil
	}
	return j.sync.file(f)
}

// Close closes the journal file without committing anything; commit a
// durable record first to make the last state survive a power loss. Calls
// after the first return nil.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("journal %s: close: %w", j.path, err)
	}
	return nil
}

// Remove deletes the journal at path and any temporary file a crash during
// compaction left, then fsyncs the directory. A missing journal is not an
// error. Close the Journal first.
func Remove(path string) error {
	for _, name := range []string{path + ".tmp", path} {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("journal %s: remove: %w", path, err)
	}
	return nil
}
