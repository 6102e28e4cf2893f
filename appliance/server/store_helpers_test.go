package server_test

import (
	"testing"

	"github.com/discodo-go/discodo/store"
)

func openStore(path string) (*store.DB, error) {
	db, _, err := store.Open(path, nil)
	return db, err
}

// repointVoice rewrites every stored voice client's endpoint, as if the
// bot's last VOICE_SERVER_UPDATE had named another server.
func repointVoice(t *testing.T, db *store.DB, endpoint string) {
	t.Helper()
	defer db.Close()
	st, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *store.Tx) error {
		for _, s := range st.Sessions {
			for _, vc := range s.VoiceClients {
				vc.Endpoint = endpoint
				if err := tx.PutVoiceClient(s.Manager.Tag, vc.VoiceClient); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
