package mls

import (
	"bytes"
	"testing"
)

// TestKeyScheduleVectors checks key-schedule.json for suite 2: every
// epoch secret, the GroupContext encoding, external_pub and the exporter.
func TestKeyScheduleVectors(t *testing.T) {
	var cases []struct {
		CipherSuite       int      `json:"cipher_suite"`
		GroupID           hexBytes `json:"group_id"`
		InitialInitSecret hexBytes `json:"initial_init_secret"`
		Epochs            []struct {
			TreeHash                hexBytes `json:"tree_hash"`
			CommitSecret            hexBytes `json:"commit_secret"`
			PSKSecret               hexBytes `json:"psk_secret"`
			ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
			GroupContext            hexBytes `json:"group_context"`
			JoinerSecret            hexBytes `json:"joiner_secret"`
			WelcomeSecret           hexBytes `json:"welcome_secret"`
			InitSecret              hexBytes `json:"init_secret"`
			SenderDataSecret        hexBytes `json:"sender_data_secret"`
			EncryptionSecret        hexBytes `json:"encryption_secret"`
			ExporterSecret          hexBytes `json:"exporter_secret"`
			EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
			ExternalSecret          hexBytes `json:"external_secret"`
			ConfirmationKey         hexBytes `json:"confirmation_key"`
			MembershipKey           hexBytes `json:"membership_key"`
			ResumptionPSK           hexBytes `json:"resumption_psk"`
			ExternalPub             hexBytes `json:"external_pub"`
			Exporter                struct {
				// The generator uses the label's hex text itself as the label.
				Label           string
				Context, Secret hexBytes
				Length          int
			}
		}
	}
	loadVectors(t, "key-schedule.json", &cases)
	n := 0
	for _, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		init := []byte(c.InitialInitSecret)
		for i, e := range c.Epochs {
			gc := GroupContext{Version: 1, CipherSuite: CipherSuite, GroupID: c.GroupID, Epoch: uint64(i),
				TreeHash: e.TreeHash, ConfirmedTranscriptHash: e.ConfirmedTranscriptHash}
			ctx := gc.Marshal()
			if !bytes.Equal(ctx, e.GroupContext) {
				t.Fatalf("epoch %d: group context %x, want %x", i, ctx, e.GroupContext)
			}
			s := deriveEpoch(joinerSecret(init, e.CommitSecret, ctx), e.PSKSecret, ctx)
			for _, f := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner", s.joiner, e.JoinerSecret},
				{"welcome", s.welcome, e.WelcomeSecret},
				{"init", s.init, e.InitSecret},
				{"sender data", s.senderData, e.SenderDataSecret},
				{"encryption", s.encryption, e.EncryptionSecret},
				{"exporter", s.exporter, e.ExporterSecret},
				{"authenticator", s.authenticator, e.EpochAuthenticator},
				{"external", s.external, e.ExternalSecret},
				{"confirmation", s.confirmation, e.ConfirmationKey},
				{"membership", s.membership, e.MembershipKey},
				{"resumption", s.resumption, e.ResumptionPSK},
				{"external_pub", publicKeyBytes(DeriveKeyPair(s.external)), e.ExternalPub},
				{"exported", export(s.exporter, e.Exporter.Label, e.Exporter.Context, e.Exporter.Length), e.Exporter.Secret},
			} {
				if !bytes.Equal(f.got, f.want) {
					t.Fatalf("epoch %d: %s = %x, want %x", i, f.name, f.got, f.want)
				}
			}
			init = s.init
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

// TestTranscriptHashVectors checks transcript-hashes.json for suite 2.
func TestTranscriptHashVectors(t *testing.T) {
	var cases []struct {
		CipherSuite     int      `json:"cipher_suite"`
		ConfirmationKey hexBytes `json:"confirmation_key"`
		Content         hexBytes `json:"authenticated_content"`
		InterimBefore   hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedAfter  hexBytes `json:"confirmed_transcript_hash_after"`
		InterimAfter    hexBytes `json:"interim_transcript_hash_after"`
	}
	loadVectors(t, "transcript-hashes.json", &cases)
	n := 0
	for _, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		var ac authenticatedContent
		if err := decode(c.Content, ac.unmarshal); err != nil {
			t.Fatal(err)
		}
		if got := encode(ac.marshal); !bytes.Equal(got, c.Content) {
			t.Fatal("AuthenticatedContent does not re-encode")
		}
		confirmed := confirmedTranscriptHash(c.InterimBefore, ac.WireFormat, &ac.Content, ac.Signature)
		if !bytes.Equal(confirmed, c.ConfirmedAfter) {
			t.Fatalf("confirmed = %x, want %x", confirmed, c.ConfirmedAfter)
		}
		if !macEqual(c.ConfirmationKey, confirmed, ac.ConfirmationTag) {
			t.Fatal("confirmation tag does not verify")
		}
		if got := interimTranscriptHash(confirmed, ac.ConfirmationTag); !bytes.Equal(got, c.InterimAfter) {
			t.Fatalf("interim = %x, want %x", got, c.InterimAfter)
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

// TestPSKSecretVectors checks psk_secret.json for suite 2 (external
// PSKs; DAVE has none, the passive-client vectors use them).
func TestPSKSecretVectors(t *testing.T) {
	var cases []struct {
		CipherSuite int `json:"cipher_suite"`
		PSKs        []struct {
			ID    hexBytes `json:"psk_id"`
			PSK   hexBytes `json:"psk"`
			Nonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}
	loadVectors(t, "psk_secret.json", &cases)
	n := 0
	for _, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		var ids []PreSharedKeyID
		var psks [][]byte
		for _, p := range c.PSKs {
			ids = append(ids, PreSharedKeyID{Type: PSKExternal, ID: p.ID, Nonce: p.Nonce})
			psks = append(psks, p.PSK)
		}
		got := pskSecret(ids, psks)
		if got == nil {
			got = zeroSecret
		}
		if !bytes.Equal(got, c.PSKSecret) {
			t.Fatalf("%d PSKs: secret %x, want %x", len(ids), got, c.PSKSecret)
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}
