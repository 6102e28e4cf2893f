package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/discodo-go/discodo/store"
)

func open(t *testing.T, path string) *store.DB {
	t.Helper()
	db, opened, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opened.MovedAside != "" {
		t.Fatalf("fresh file moved aside: %v", opened.Reason)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRoundTripAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	deadline := time.Unix(1_800_000_000, 0).UTC()
	err := db.Update(func(tx *store.Tx) error {
		if err := tx.PutManager(store.Manager{Tag: "42-1", UserID: "42", ShardID: "1", SessionID: "s", Deadline: deadline}); err != nil {
			return err
		}
		if err := tx.PutVoiceClient("42-1", store.VoiceClient{ID: "vc", GuildID: "7", ChannelID: "8", Token: "tok", Options: []byte(`{"volume":0.5}`)}); err != nil {
			return err
		}
		if err := tx.SetQueue("42-1", "7", []store.Item{{"a", []byte(`{"n":1}`)}, {"b", []byte(`{"n":2}`)}}); err != nil {
			return err
		}
		if err := tx.PutPosition("42-1", "7", store.Position{SourceTag: "cur", Offset: 1500 * time.Millisecond, At: deadline}); err != nil {
			return err
		}
		return tx.PutFilter(store.Filter{Name: "f", SHA256: "x", Module: []byte{0, 'a', 's', 'm'}})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db = open(t, path)
	st, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Problems) > 0 || len(st.Sessions) != 1 || len(st.Filters) != 1 {
		t.Fatalf("loaded %+v", st)
	}
	s := st.Sessions[0]
	if s.Manager.Tag != "42-1" || !s.Manager.Deadline.Equal(deadline) || s.Manager.ShardID != "1" {
		t.Errorf("manager = %+v", s.Manager)
	}
	vc := s.VoiceClients[0]
	if vc.ID != "vc" || vc.Token != "tok" || string(vc.Options) != `{"volume":0.5}` {
		t.Errorf("voice client = %+v", vc.VoiceClient)
	}
	if keys := itemKeys(vc.Queue); !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("queue = %v", keys)
	}
	if vc.Position.Offset != 1500*time.Millisecond || vc.Position.SourceTag != "cur" {
		t.Errorf("position = %+v", vc.Position)
	}
}

func itemKeys(items []store.Item) []string {
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

func TestSetQueueReordersAndDeletes(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	must(t, db.Update(func(tx *store.Tx) error {
		must(t, tx.PutManager(store.Manager{Tag: "1", UserID: "1"}))
		must(t, tx.PutVoiceClient("1", store.VoiceClient{ID: "v", GuildID: "2"}))
		return tx.SetQueue("1", "2", []store.Item{{"a", []byte("A")}, {"b", []byte("B")}, {"c", []byte("C")}})
	}))
	must(t, db.Update(func(tx *store.Tx) error {
		return tx.SetQueue("1", "2", []store.Item{{"c", []byte("C2")}, {"a", []byte("A")}})
	}))
	st, _ := db.Load()
	q := st.Sessions[0].VoiceClients[0].Queue
	if got := itemKeys(q); !slices.Equal(got, []string{"c", "a"}) || string(q[0].Data) != "C2" {
		t.Fatalf("queue = %v %q", got, q[0].Data)
	}
	// Duplicate and bad keys are refused and roll the transaction back.
	err := db.Update(func(tx *store.Tx) error {
		return tx.SetQueue("1", "2", []store.Item{{"x", nil}, {"x", nil}})
	})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate keys: %v", err)
	}
	st, _ = db.Load()
	if got := itemKeys(st.Sessions[0].VoiceClients[0].Queue); !slices.Equal(got, []string{"c", "a"}) {
		t.Fatalf("rolled back queue = %v", got)
	}
}

func TestUnknownManagerAndCascade(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	err := db.Update(func(tx *store.Tx) error { return tx.PutVoiceClient("nope", store.VoiceClient{GuildID: "1"}) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("voice client of unknown manager: %v", err)
	}
	must(t, db.Update(func(tx *store.Tx) error {
		must(t, tx.PutManager(store.Manager{Tag: "1", UserID: "1"}))
		must(t, tx.PutVoiceClient("1", store.VoiceClient{ID: "v", GuildID: "2"}))
		return tx.SetQueue("1", "2", []store.Item{{"a", []byte("A")}})
	}))
	must(t, db.Update(func(tx *store.Tx) error { return tx.DeleteManager("1") }))
	must(t, db.Update(func(tx *store.Tx) error { return tx.DeleteManager("1") }))
	st, _ := db.Load()
	if len(st.Sessions) != 0 {
		t.Fatalf("sessions after delete: %+v", st.Sessions)
	}
}

func TestTornFileIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	db := open(t, path)
	must(t, db.Update(func(tx *store.Tx) error {
		must(t, tx.PutManager(store.Manager{Tag: "1", UserID: "1"}))
		must(t, tx.PutVoiceClient("1", store.VoiceClient{ID: "v", GuildID: "2"}))
		var items []store.Item
		for i := range 2000 {
			items = append(items, store.Item{Key: fmt.Sprint(i), Data: []byte(strings.Repeat("x", 1000))})
		}
		return tx.SetQueue("1", "2", items)
	}))
	db.Close()

	for name, mangle := range map[string]func([]byte) []byte{
		"truncated":     func(b []byte) []byte { return b[:100] },
		"cut mid-pages": func(b []byte) []byte { return b[:len(b)/2] },
		"garbage":       func(b []byte) []byte { return []byte(strings.Repeat("not a bbolt file ", 1000)) },
		"zeroed meta": func(b []byte) []byte {
			c := slices.Clone(b)
			clear(c[:8192])
			return c
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".db")
			orig, _ := os.ReadFile(path)
			must(t, os.WriteFile(p, mangle(orig), 0o600))
			db, opened, err := store.Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if opened.MovedAside == "" || opened.Reason == nil {
				t.Fatalf("torn file not reported: %+v", opened)
			}
			if _, err := os.Stat(opened.MovedAside); err != nil {
				t.Fatalf("moved-aside file: %v", err)
			}
			st, err := db.Load()
			if err != nil || len(st.Sessions) != 0 {
				t.Fatalf("fresh store: %+v %v", st, err)
			}
		})
	}
}

func TestSecondOpenerTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	open(t, path)
	_, _, err := store.Open(path, &store.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second opener: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
