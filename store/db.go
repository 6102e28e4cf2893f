package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// openChecked opens the file and runs bbolt's consistency check. bbolt may
// panic on some kinds of torn pages; that is reported as an error too.
func openChecked(path string, opts *bolt.Options) (db *bolt.DB, err error) {
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
