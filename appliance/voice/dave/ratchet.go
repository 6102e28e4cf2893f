package dave

import (
	"encoding/binary"

	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

// exporterLabel is the MLS exporter label of DAVE sender keys (spec 3.6).
const exporterLabel = "Discord Secure Frames v0"

// senderBase returns a member's ratchet base secret in the group's epoch:
// MLS-Exporter("Discord Secure Frames v0", LE64(user), 16).
func senderBase(g *mls.Group, user uint64) []byte {
	return g.Export(exporterLabel, binary.LittleEndian.AppendUint64(nil, user), 16)
}

// ratchet is the hash ratchet of RFC 9420 §9.1 as mlspp's HashRatchet
// implements it, which DAVE uses per sender (spec 3.6):
//
//	secret_0     = base
//	key_g        = ExpandWithLabel(secret_g, "key",    BE32(g), 16)
//	nonce_g      = ExpandWithLabel(secret_g, "nonce",  BE32(g), 12)  (unused)
//	secret_{g+1} = ExpandWithLabel(secret_g, "secret", BE32(g), 32)
//
// It moves forward only: keys of generations before next are gone, which
// callers cache when they need them.
type ratchet struct {
	secret []byte
	next   uint32
}

func newRatchet(base []byte) *ratchet { return &ratchet{secret: base} }

// key returns the key of generation g >= r.next, advancing the ratchet
// past g.
func (r *ratchet) key(g uint32) []byte {
	for r.next < g {
		r.advance()
	}
	k := mls.ExpandWithLabel(r.secret, "key", binary.BigEndian.AppendUint32(nil, g), 16)
	r.advance()
	return k
}

func (r *ratchet) advance() {
	r.secret = mls.ExpandWithLabel(r.secret, "secret", binary.BigEndian.AppendUint32(nil, r.next), 32)
	r.next++
}
