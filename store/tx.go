package store

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Tx is one read-write transaction. Its methods write whole records; the
// transaction commits when the function given to Update returns nil.
type Tx struct {
	tx *bolt.Tx
}

func (t *Tx) session(tag string) *bolt.Bucket {
	return t.tx.Bucket(bucketSessions).Bucket([]byte(tag))
}

func (t *Tx) voiceClient(tag, guild string) (*bolt.Bucket, error) {
	s := t.session(tag)
	if s == nil {
		return nil, fmt.Errorf("%w: manager %q", ErrNotFound, tag)
	}
	vc := s.Bucket(bucketVC).Bucket([]byte(guild))
	if vc == nil {
		return nil, fmt.Errorf("%w: voice client of guild %s under %q", ErrNotFound, guild, tag)
	}
	return vc, nil
}

// PutManager creates or replaces a manager record.
func (t *Tx) PutManager(m Manager) error {
	if m.Tag == "" {
		return fmt.Errorf("store: manager without a tag")
	}
	s, err := t.tx.Bucket(bucketSessions).CreateBucketIfNotExists([]byte(m.Tag))
	if err != nil {
		return fmt.Errorf("store: manager %q: %w", m.Tag, err)
	}
	if _, err := s.CreateBucketIfNotExists(bucketVC); err != nil {
		return fmt.Errorf("store: manager %q: %w", m.Tag, err)
	}
	return putIfChanged(s, keyManager, m)
}

// DeleteManager removes a manager with its voice clients, queues and
// checkpoints. Deleting an absent manager is not an error.
func (t *Tx) DeleteManager(tag string) error {
	err := t.tx.Bucket(bucketSessions).DeleteBucket([]byte(tag))
	if err != nil && err != bolt.ErrBucketNotFound {
		return fmt.Errorf("store: deleting manager %q: %w", tag, err)
	}
	return nil
}

// PutVoiceClient creates or replaces a voice client of an existing manager.
func (t *Tx) PutVoiceClient(tag string, vc VoiceClient) error {
	s := t.session(tag)
	if s == nil {
		return fmt.Errorf("%w: manager %q", ErrNotFound, tag)
	}
	b, err := s.Bucket(bucketVC).CreateBucketIfNotExists([]byte(vc.GuildID))
	if err != nil {
		return fmt.Errorf("store: voice client %s: %w", vc.GuildID, err)
	}
	if _, err := b.CreateBucketIfNotExists(bucketItems); err != nil {
		return fmt.Errorf("store: voice client %s: %w", vc.GuildID, err)
	}
	return putIfChanged(b, keyClient, vc)
}

// DeleteVoiceClient removes a voice client with its queue and checkpoint.
func (t *Tx) DeleteVoiceClient(tag, guild string) error {
	s := t.session(tag)
	if s == nil {
		return nil
	}
	err := s.Bucket(bucketVC).DeleteBucket([]byte(guild))
	if err != nil && err != bolt.ErrBucketNotFound {
		return fmt.Errorf("store: deleting voice client %s: %w", guild, err)
	}
	return nil
}

// SetQueue makes the stored queue equal to items, in order, writing only
// what changed: the order key when the order changed, items whose bytes
// changed, and deletions of items that left. Keys must be unique and must
// not contain "\n".
func (t *Tx) SetQueue(tag, guild string, items []Item) error {
	vc, err := t.voiceClient(tag, guild)
	if err != nil {
		return err
	}
	ib := vc.Bucket(bucketItems)
	keep := make(map[string]struct{}, len(items))
	var order strings.Builder
	for i, it := range items {
		if it.Key == "" || strings.Contains(it.Key, "\n") {
			return fmt.Errorf("store: queue item %d has an invalid key %q", i, it.Key)
		}
		if _, dup := keep[it.Key]; dup {
			return fmt.Errorf("store: queue item key %q appears twice", it.Key)
		}
		keep[it.Key] = struct{}{}
		if i > 0 {
			order.WriteByte('\n')
		}
		order.WriteString(it.Key)
		if !bytes.Equal(ib.Get([]byte(it.Key)), it.Data) {
			if err := ib.Put([]byte(it.Key), it.Data); err != nil {
				return fmt.Errorf("store: queue item %q: %w", it.Key, err)
			}
		}
	}
	var stale [][]byte
	if err := ib.ForEach(func(k, _ []byte) error {
		if _, ok := keep[string(k)]; !ok {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range stale {
		if err := ib.Delete(k); err != nil {
			return fmt.Errorf("store: deleting queue item %q: %w", k, err)
		}
	}
	if o := []byte(order.String()); !bytes.Equal(vc.Get(keyOrder), o) {
		return vc.Put(keyOrder, o)
	}
	return nil
}

// PutPosition stores the playback checkpoint of a voice client.
func (t *Tx) PutPosition(tag, guild string, p Position) error {
	vc, err := t.voiceClient(tag, guild)
	if err != nil {
		return err
	}
	return putIfChanged(vc, keyPosition, p)
}

// PutFilter stores an uploaded filter module, replacing one of that name.
func (t *Tx) PutFilter(f Filter) error {
	return putIfChanged(t.tx.Bucket(bucketFilters), []byte(f.Name), f)
}

// DeleteFilter removes an uploaded filter; an absent one is not an error.
func (t *Tx) DeleteFilter(name string) error {
	return t.tx.Bucket(bucketFilters).Delete([]byte(name))
}

// putIfChanged writes rec under key unless the stored bytes are identical.
func putIfChanged[T any](b *bolt.Bucket, key []byte, rec T) error {
	v, err := encode(rec)
	if err != nil {
		return err
	}
	if bytes.Equal(b.Get(key), v) {
		return nil
	}
	if err := b.Put(key, v); err != nil {
		return fmt.Errorf("store: writing %s: %w", key, err)
	}
	return nil
}
