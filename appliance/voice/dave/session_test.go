package dave_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/discodo-go/discodo/appliance/voice/dave"
	"github.com/discodo-go/discodo/appliance/voice/dave/davetest"
	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

type sent struct {
	op     int
	body   []byte
	binary bool
}

func newSession(t testing.TB, user uint64) (*dave.Session, *[]sent) {
	var out []sent
	s, err := dave.New(dave.Config{UserID: user, ChannelID: 77, Send: func(op int, b []byte, bin bool) error {
		out = append(out, sent{op, append([]byte(nil), b...), bin})
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &out
}

func TestNewValidates(t *testing.T) {
	if _, err := dave.New(dave.Config{UserID: 1, ChannelID: 2}); err == nil {
		t.Error("no Send accepted")
	}
	if _, err := dave.New(dave.Config{ChannelID: 2, Send: func(int, []byte, bool) error { return nil }}); err == nil {
		t.Error("no user id accepted")
	}
}

// TestSessionRefusals checks the errors Handle returns for bad input.
func TestSessionRefusals(t *testing.T) {
	signer, err := davetest.NewGoSigner()
	if err != nil {
		t.Fatal(err)
	}
	s, out := newSession(t, 5)
	if err := s.Handle(dave.OpMLSProposals, []byte{0, 0}); !errors.Is(err, dave.ErrNotStarted) {
		t.Errorf("before start: %v", err)
	}
	if err := s.Start(2); !errors.Is(err, dave.ErrVersion) {
		t.Errorf("version 2: %v", err)
	}
	if err := s.Start(1); err != nil {
		t.Fatal(err)
	}
	if len(*out) != 1 || (*out)[0].op != dave.OpMLSKeyPackage || !(*out)[0].binary {
		t.Fatalf("start sent %+v", *out)
	}
	kp, err := mls.UnmarshalKeyPackage((*out)[0].body)
	if err != nil || kp.Verify() != nil || binary.BigEndian.Uint64(kp.Leaf.Credential.Identity) != 5 {
		t.Fatalf("key package: %v", err)
	}
	for _, tc := range []struct {
		op   int
		body string
		want error
	}{
		{dave.OpClientsConnect, "{", dave.ErrPayload},
		{dave.OpPrepareTransition, `{"transition_id":1,"protocol_version":7}`, dave.ErrVersion},
		{dave.OpMLSExternalSender, "\x05junk", dave.ErrPayload},
		{dave.OpMLSProposals, "", dave.ErrPayload},
		{dave.OpMLSAnnounceCommitTransition, "\x01", dave.ErrPayload},
	} {
		if err := s.Handle(tc.op, []byte(tc.body)); !errors.Is(err, tc.want) {
			t.Errorf("op %d %q: %v, want %v", tc.op, tc.body, err, tc.want)
		}
	}
	if err := s.Handle(dave.OpMLSExternalSender, signer.ExternalSender()); err != nil {
		t.Fatal(err)
	}
	// An Add for a user nobody announced is refused.
	s9, out9 := newSession(t, 9)
	if err := s9.Start(1); err != nil {
		t.Fatal(err)
	}
	msgs, refs, err := signer.Propose(binary.BigEndian.AppendUint64(nil, 77), 0, []davetest.ProposalSpec{{KeyPackage: (*out9)[0].body}})
	if err != nil {
		t.Fatal(err)
	}
	body := mls.AppendOpaque([]byte{0}, msgs[0])
	if err := s.Handle(dave.OpMLSProposals, body); !errors.Is(err, dave.ErrProposal) {
		t.Errorf("add of an unknown user: %v", err)
	}
	if err := s.Handle(dave.OpClientsConnect, []byte(`{"user_ids":["9"]}`)); err != nil {
		t.Fatal(err)
	}
	n := len(*out)
	if err := s.Handle(dave.OpMLSProposals, body); err != nil {
		t.Fatalf("add of a known user: %v", err)
	}
	if len(*out) != n+1 || (*out)[n].op != dave.OpMLSCommitWelcome {
		t.Fatalf("no commit after a valid add: %+v", (*out)[n:])
	}
	// Revoking it is fine once; an unknown reference is refused.
	revoke := mls.AppendOpaque([]byte{1}, mls.AppendOpaque(nil, refs[0]))
	if err := s.Handle(dave.OpMLSProposals, revoke); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(dave.OpMLSProposals, revoke); !errors.Is(err, dave.ErrProposal) {
		t.Errorf("unknown revoke: %v", err)
	}
	// Receive passthrough is open until a transition executes: plain
	// frames from anybody pass.
	if got, err := s.Decrypt(9, nil, []byte("plain")); err != nil || string(got) != "plain" {
		t.Errorf("passthrough: %q %v", got, err)
	}
}

// FuzzHandle feeds arbitrary bodies to every DAVE op of a started session
// that has a pending group: nothing may panic.
func FuzzHandle(f *testing.F) {
	signer, err := davetest.NewGoSigner()
	if err != nil {
		f.Fatal(err)
	}
	s9, out9 := newSession(f, 9)
	if err := s9.Start(1); err != nil {
		f.Fatal(err)
	}
	msgs, refs, err := signer.Propose(binary.BigEndian.AppendUint64(nil, 77), 0, []davetest.ProposalSpec{{KeyPackage: (*out9)[0].body}, {Remove: 0}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(27), mls.AppendOpaque([]byte{0}, append(msgs[0], msgs[1]...)))
	f.Add(uint8(27), mls.AppendOpaque([]byte{1}, mls.AppendOpaque(nil, refs[0])))
	f.Add(uint8(29), append([]byte{0, 1}, msgs[0]...))
	f.Add(uint8(30), []byte{0, 1, 0, 2, 0, 0})
	f.Add(uint8(25), signer.ExternalSender())
	f.Add(uint8(21), []byte(`{"transition_id":0,"protocol_version":1}`))
	f.Add(uint8(24), []byte(`{"epoch":1,"protocol_version":1}`))
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		s, _ := newSession(t, 5)
		if err := s.Start(1); err != nil {
			t.Fatal(err)
		}
		_ = s.Handle(dave.OpClientsConnect, []byte(`{"user_ids":["9"]}`))
		if err := s.Handle(dave.OpMLSExternalSender, signer.ExternalSender()); err != nil {
			t.Fatal(err)
		}
		_ = s.Handle(int(op%32), body)
		_, _ = s.EncryptOpus(nil, []byte{0xFC, 1, 2})
		_, _ = s.Decrypt(9, nil, body)
	})
}
