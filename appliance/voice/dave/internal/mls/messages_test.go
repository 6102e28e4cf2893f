package mls

import (
	"bytes"
	"testing"
)

// roundTrip decodes b with f, re-encodes it with g and requires the same
// bytes back.
func roundTrip(t *testing.T, name string, b []byte, f func(r *reader), g func(w *writer)) {
	t.Helper()
	if err := decode(b, f); err != nil {
		t.Fatalf("%s: decode: %v", name, err)
	}
	if got := encode(g); !bytes.Equal(got, b) {
		t.Fatalf("%s: re-encoding differs:\n got %x\nwant %x", name, got, b)
	}
}

// TestMessagesVectors checks messages.json: every message type decodes
// and re-encodes to the same bytes. PrivateMessage is only framed (DAVE
// never opens one); the rest is decoded field by field.
func TestMessagesVectors(t *testing.T) {
	var cases []map[string]hexBytes
	loadVectors(t, "messages.json", &cases)
	for i, c := range cases {
		msgs := []string{"mls_welcome", "mls_group_info", "mls_key_package",
			"public_message_application", "public_message_proposal", "public_message_commit", "private_message"}
		for _, k := range msgs {
			var m Message
			roundTrip(t, k, c[k], m.unmarshal, m.marshal)
		}
		var tree Tree
		roundTrip(t, "ratchet_tree", c["ratchet_tree"], tree.unmarshal, tree.marshal)
		var gs GroupSecrets
		roundTrip(t, "group_secrets", c["group_secrets"], gs.unmarshal, gs.marshal)
		var kp KeyPackage
		roundTrip(t, "add_proposal", c["add_proposal"], kp.unmarshal, kp.marshal)
		var ln LeafNode
		roundTrip(t, "update_proposal", c["update_proposal"], ln.unmarshal, ln.marshal)
		var rm uint32
		roundTrip(t, "remove_proposal", c["remove_proposal"], func(r *reader) { rm = r.u32() }, func(w *writer) { w.u32(rm) })
		var psk PreSharedKeyID
		roundTrip(t, "pre_shared_key_proposal", c["pre_shared_key_proposal"], psk.unmarshal, psk.marshal)
		for _, p := range []struct {
			key string
			typ uint16
		}{
			{"re_init_proposal", ProposalReInit},
			{"external_init_proposal", ProposalExternalInit},
			{"group_context_extensions_proposal", ProposalGroupContextExtensions},
		} {
			// The vectors hold the proposal bodies without the type.
			body := append([]byte{byte(p.typ >> 8), byte(p.typ)}, c[p.key]...)
			var prop Proposal
			if err := decode(body, prop.unmarshal); err != nil {
				t.Fatalf("case %d %s: %v", i, p.key, err)
			}
			if got := encode(prop.marshal); !bytes.Equal(got, body) {
				t.Fatalf("case %d %s: re-encoding differs", i, p.key)
			}
		}
		var commit Commit
		roundTrip(t, "commit", c["commit"], commit.unmarshal, commit.marshal)
	}
}
