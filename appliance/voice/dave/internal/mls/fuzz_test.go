package mls

import (
	"bytes"
	"testing"
)

// Every decoder of bytes from the wire is fuzzed for two properties: it
// never panics, and whatever it accepts re-encodes to exactly the input
// (signatures and hashes over re-encoded structures depend on that).
// Seeds are the RFC 9420 messages vectors.

func seedMessages(f *testing.F, keys ...string) {
	var cases []map[string]hexBytes
	loadVectors(f, "messages.json", &cases)
	for _, c := range cases[:20] {
		for _, k := range keys {
			f.Add([]byte(c[k]))
		}
	}
}

func fuzzCanonical(t *testing.T, b []byte, f func(r *reader), g func(w *writer)) {
	if err := decode(b, f); err != nil {
		return
	}
	if got := encode(g); !bytes.Equal(got, b) {
		t.Fatalf("accepted input does not re-encode:\n in %x\nout %x", b, got)
	}
}

func FuzzMessage(f *testing.F) {
	seedMessages(f, "mls_welcome", "mls_group_info", "mls_key_package", "public_message_application",
		"public_message_proposal", "public_message_commit", "private_message")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		fuzzCanonical(t, b, m.unmarshal, m.marshal)
		if _, rest, err := ReadMessage(b); err == nil && len(rest) > len(b) {
			t.Fatal("ReadMessage grew its input")
		}
	})
}

func FuzzKeyPackage(f *testing.F) {
	seedMessages(f, "add_proposal")
	f.Fuzz(func(t *testing.T, b []byte) {
		var k KeyPackage
		fuzzCanonical(t, b, k.unmarshal, k.marshal)
		if kp, err := UnmarshalKeyPackage(b); err == nil {
			_ = kp.Verify()
		}
	})
}

func FuzzWelcome(f *testing.F) {
	var cases []map[string]hexBytes
	loadVectors(f, "messages.json", &cases)
	for _, c := range cases[:20] {
		f.Add([]byte(c["mls_welcome"][4:]))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w Welcome
		fuzzCanonical(t, b, w.unmarshal, w.marshal)
	})
}

func FuzzTree(f *testing.F) {
	seedMessages(f, "ratchet_tree")
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := UnmarshalTree(b)
		if err != nil {
			return
		}
		if got := tree.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("tree does not re-encode")
		}
		_ = tree.TreeHash()
		_ = tree.Verify([]byte("g"), nil)
	})
}

func FuzzGroupSecrets(f *testing.F) {
	seedMessages(f, "group_secrets")
	f.Fuzz(func(t *testing.T, b []byte) {
		var g GroupSecrets
		fuzzCanonical(t, b, g.unmarshal, g.marshal)
	})
}

func FuzzCommit(f *testing.F) {
	seedMessages(f, "commit")
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Commit
		fuzzCanonical(t, b, c.unmarshal, c.marshal)
	})
}

func FuzzExternalSender(f *testing.F) {
	k, _ := GenerateSignatureKey()
	es := ExternalSender{SignatureKey: k.Public(), Credential: Credential{Type: CredentialBasic, Identity: []byte{1, 2}}}
	f.Add(es.Marshal())
	f.Add(MarshalExternalSenders([]ExternalSender{es}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e ExternalSender
		fuzzCanonical(t, b, e.unmarshal, e.marshal)
		if v, err := UnmarshalExternalSenders(b); err == nil {
			if got := MarshalExternalSenders(v); !bytes.Equal(got, b) {
				t.Fatal("external senders do not re-encode")
			}
		}
	})
}
