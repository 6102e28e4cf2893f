package store

import "errors"

var (
	// ErrLocked is returned by Open when another process holds the file
	// for longer than Options.LockTimeout.
	ErrLocked = errors.New("store: database file is locked by another process")
	// ErrNotFound is returned by Tx methods that update a record which does
	// not exist (a voice client of an unknown manager, say).
	ErrNotFound = errors.New("store: record not found")
	// ErrRecordVersion is returned by Load for a record written by a newer
	// node; the record is skipped and reported, never silently rewritten.
	ErrRecordVersion = errors.New("store: unknown record version")
)
