package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout bounds how long Open waits for another process's lock.
const DefaultLockTimeout = 2 * time.Second

// Options tunes Open. A nil *Options means the defaults.
type Options struct {
	// LockTimeout: how long to wait for the file lock (DefaultLockTimeout).
	LockTimeout time.Duration
	// NoSync skips fdatasync on commit. Only for tests and benchmarks: it
	// gives up the guarantee that an acknowledged change survives power loss.
	NoSync bool
}

// Opened reports what Open found.
type Opened struct {
	// MovedAside is the path a torn or unreadable file was renamed to, or "".
	MovedAside string
	// Reason says why the file was moved aside.
	Reason error
}

var (
	bucketSessions = []byte("sessions")
	bucketFilters  = []byte("filters")
	bucketVC       = []byte("vc")
	bucketItems    = []byte("items")
	keyManager     = []byte("manager")
	keyClient      = []byte("client")
	keyOrder       = []byte("order")
	keyPosition    = []byte("position")
)

// DB is the node's store. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
}

// Open opens or creates the store at path. A file that bbolt cannot open
// or whose consistency check fails is moved aside and replaced by an empty
// store; the returned Opened says so. A locked file fails with ErrLocked.
func Open(path string, opts *Options) (*DB, Opened, error) {
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, Opened{}, fmt.Errorf("store: creating %s: %w", filepath.Dir(path), err)
	}
	bopts := &bolt.Options{Timeout: timeout, NoSync: opts.NoSync, NoFreelistSync: false}

	var opened Opened
	db, err := openChecked(path, bopts)
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, Opened{}, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, timeout)
		}
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, Opened{}, fmt.Errorf("store: %s is unreadable (%v) and could not be moved aside: %w", path, err, rerr)
		}
		opened = Opened{MovedAside: aside, Reason: err}
		db, err = openChecked(path, bopts)
		if err != nil {
			return nil, opened, fmt.Errorf("store: creating a fresh %s: %w", path, err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketFilters} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, opened, fmt.Errorf("store: initialising %s: %w", path, err)
	}
	return &DB{bolt: db, path: path}, opened, nil
}

// openChecked opens the file and runs bbolt's consistency check. A file
// shorter than its meta page says is refused before bbolt maps it (reading
// past the end of a mapping is SIGBUS, which would kill the process on
// every boot); bbolt may also panic or fault on torn pages, which is
// reported as an error too.
func openChecked(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	if err := checkLength(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("store: %s is corrupt: %v", path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		var problems []string
		for e := range tx.Check() {
			problems = append(problems, e.Error())
			if len(problems) == 5 {
				break
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("consistency check failed: %s", strings.Join(problems, "; "))
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return db, nil
}

// checkLength reads bbolt's two meta pages and checks that the file holds
// every page the newest valid one counts. Layout (little-endian, after a
// 16-byte page header): magic u32, version u32, page size u32, flags u32,
// root bucket (16 bytes), freelist page u64, high-water page id u64, txid
// u64, FNV-64a checksum of the preceding 56 bytes.
func checkLength(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err // an empty file is initialised by bbolt
	}
	const hdr, metaLen = 16, 64
	buf := make([]byte, hdr+metaLen)
	var best struct{ pgid, pageSize, txid uint64 }
	found := false
	for _, off := range []int64{0, -1} {
		if off < 0 {
			if !found {
				// Page 1 sits one page size in; without a valid page 0,
				// try the common sizes.
				for _, ps := range []int64{4096, 16384, 65536} {
					if m, ok := readMeta(f, ps, buf); ok && (!found || m.txid > best.txid) {
						best, found = m, true
					}
				}
				continue
			}
			off = int64(best.pageSize)
		}
		if m, ok := readMeta(f, off, buf); ok && (!found || m.txid > best.txid) {
			best, found = m, true
		}
	}
	if !found {
		return fmt.Errorf("store: %s has no valid meta page", path)
	}
	if need := best.pgid * best.pageSize; uint64(fi.Size()) < need {
		return fmt.Errorf("store: %s is torn: %d bytes, its meta page counts %d pages of %d bytes", path, fi.Size(), best.pgid, best.pageSize)
	}
	return nil
}

func readMeta(f *os.File, off int64, buf []byte) (m struct{ pgid, pageSize, txid uint64 }, ok bool) {
	if _, err := f.ReadAt(buf, off); err != nil {
		return m, false
	}
	meta := buf[16:]
	if binary.LittleEndian.Uint32(meta[0:]) != 0xED0CDAED || binary.LittleEndian.Uint32(meta[4:]) != 2 {
		return m, false
	}
	h := fnv.New64a()
	h.Write(meta[:56])
	if h.Sum64() != binary.LittleEndian.Uint64(meta[56:]) {
		return m, false
	}
	m.pageSize = uint64(binary.LittleEndian.Uint32(meta[8:]))
	m.pgid = binary.LittleEndian.Uint64(meta[40:])
	m.txid = binary.LittleEndian.Uint64(meta[48:])
	return m, m.pageSize >= 512
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// Close closes the file. It is idempotent.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("store: closing %s: %w", db.path, err)
	}
	return nil
}

// Update runs fn in one read-write transaction and commits it; it rolls
// back if fn returns an error or panics. When Update returns nil the change
// is on disk.
func (db *DB) Update(fn func(tx *Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Batch is Update for many concurrent small writers (position checkpoints):
// bbolt groups them into one commit. fn may run more than once.
func (db *DB) Batch(fn func(tx *Tx) error) error {
	return db.bolt.Batch(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Size returns the size of the file in bytes.
func (db *DB) Size() int64 {
	var n int64
	_ = db.bolt.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}
