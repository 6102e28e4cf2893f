package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Load reads the whole store. Records that cannot be decoded are skipped and
// listed in State.Problems; a voice client whose queue order names a missing
// item loses only that entry.
func (db *DB) Load() (State, error) {
	var st State
	err := db.bolt.View(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		if err := sessions.ForEachBucket(func(tag []byte) error {
			s, err := loadSession(sessions.Bucket(tag), &st.Problems)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Errorf("session %q: %w", tag, err))
				return nil
			}
			st.Sessions = append(st.Sessions, s)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketFilters).ForEach(func(k, v []byte) error {
			f, err := decode[Filter](v)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Errorf("filter %q: %w", k, err))
				return nil
			}
			st.Filters = append(st.Filters, f)
			return nil
		})
	})
	if err != nil {
		return State{}, fmt.Errorf("store: loading %s: %w", db.path, err)
	}
	return st, nil
}

func loadSession(b *bolt.Bucket, problems *[]error) (Session, error) {
	m, err := decode[Manager](b.Get(keyManager))
	if err != nil {
		return Session{}, err
	}
	s := Session{Manager: m}
	vcs := b.Bucket(bucketVC)
	if vcs == nil {
		return s, nil
	}
	err = vcs.ForEachBucket(func(guild []byte) error {
		vb := vcs.Bucket(guild)
		vc, err := decode[VoiceClient](vb.Get(keyClient))
		if err != nil {
			*problems = append(*problems, fmt.Errorf("voice client %s of %q: %w", guild, m.Tag, err))
			return nil
		}
		svc := StoredVoiceClient{VoiceClient: vc}
		if p := vb.Get(keyPosition); p != nil {
			if svc.Position, err = decode[Position](p); err != nil {
				*problems = append(*problems, fmt.Errorf("position of %s: %w", guild, err))
			}
		}
		items := vb.Bucket(bucketItems)
		if order := vb.Get(keyOrder); len(order) > 0 && items != nil {
			for _, k := range bytes.Split(order, []byte("\n")) {
				data := items.Get(k)
				if data == nil {
					*problems = append(*problems, fmt.Errorf("queue of %s: item %q is missing", guild, k))
					continue
				}
				svc.Queue = append(svc.Queue, Item{Key: string(k), Data: bytes.Clone(data)})
			}
		}
		s.VoiceClients = append(s.VoiceClients, svc)
		return nil
	})
	return s, err
}
