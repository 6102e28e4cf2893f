package dave

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

// TestReceivePassthroughWindow: plain frames pass from Start until 10 s
// after a transition to version 1 executes, and again after a downgrade
// is prepared; the silence frame always passes.
func TestReceivePassthroughWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{UserID: 1, ChannelID: 2, Send: func(int, []byte, bool) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := mls.GenerateSignatureKey()
		es := mls.ExternalSender{SignatureKey: k.Public(), Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte("gw")}}
		if err := s.Start(1); err != nil {
			t.Fatal(err)
		}
		if err := s.Handle(OpMLSExternalSender, es.Marshal()); err != nil {
			t.Fatal(err)
		}
		plain := []byte{0xFC, 1, 2, 3}
		if got, err := s.Decrypt(7, nil, plain); err != nil || string(got) != string(plain) {
			t.Fatalf("before any transition: %v", err)
		}
		// Sole member: execute at once with our pending group's key.
		if err := s.Handle(OpPrepareTransition, []byte(`{"transition_id":0,"protocol_version":1}`)); err != nil {
			t.Fatal(err)
		}
		if !s.Status().Encrypting {
			t.Fatal("not encrypting after transition 0")
		}
		time.Sleep(retention - time.Second)
		if _, err := s.Decrypt(7, nil, plain); err != nil {
			t.Fatalf("inside the window: %v", err)
		}
		time.Sleep(2 * time.Second)
		if _, err := s.Decrypt(7, nil, plain); !errors.Is(err, ErrPlaintext) {
			t.Fatalf("after the window: %v", err)
		}
		if got, err := s.Decrypt(7, nil, silenceFrame); err != nil || string(got) != string(silenceFrame) {
			t.Fatalf("silence: %v", err)
		}
		// A frame with the marker from an unknown sender has no key.
		f, _ := s.EncryptOpus(nil, plain)
		if _, err := s.Decrypt(7, nil, f); !errors.Is(err, ErrNoKey) {
			t.Fatalf("unknown sender: %v", err)
		}
		// The first frame after a transition carries nonce 1.
		if f[len(f)-4] != 0x01 {
			t.Fatalf("first nonce %d", f[len(f)-4])
		}
		if err := s.Handle(OpPrepareTransition, []byte(`{"transition_id":9,"protocol_version":0}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(7, nil, plain); err != nil {
			t.Fatalf("after a downgrade is prepared: %v", err)
		}
		if err := s.Handle(OpExecuteTransition, []byte(`{"transition_id":9}`)); err != nil {
			t.Fatal(err)
		}
		if out, _ := s.EncryptOpus(nil, plain); string(out) != string(plain) {
			t.Fatal("still encrypting after the downgrade")
		}
	})
}
