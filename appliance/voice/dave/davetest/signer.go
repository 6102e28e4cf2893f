package davetest

import (
	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

// GoSigner is an external sender signing with this module's own MLS. Use
// it where independence does not matter; interop tests use the ts-mls
// signer of the sidecar instead.
type GoSigner struct {
	key mls.SignaturePrivateKey
	ext []byte
}

// NewGoSigner makes a signer with a fresh P-256 key.
func NewGoSigner() (*GoSigner, error) {
	k, err := mls.GenerateSignatureKey()
	if err != nil {
		return nil, err
	}
	es := mls.ExternalSender{SignatureKey: k.Public(), Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte("discord")}}
	return &GoSigner{key: k, ext: es.Marshal()}, nil
}

// ExternalSender returns op 25's body.
func (s *GoSigner) ExternalSender() []byte { return s.ext }

// Propose signs external proposals.
func (s *GoSigner) Propose(groupID []byte, epoch uint64, specs []ProposalSpec) (msgs, refs [][]byte, err error) {
	for _, sp := range specs {
		p := &mls.Proposal{Type: mls.ProposalRemove, Remove: sp.Remove}
		if sp.KeyPackage != nil {
			kp, err := mls.UnmarshalKeyPackage(sp.KeyPackage)
			if err != nil {
				return nil, nil, err
			}
			p = &mls.Proposal{Type: mls.ProposalAdd, Add: kp}
		}
		m, err := mls.SignExternalProposal(s.key, 0, groupID, epoch, p)
		if err != nil {
			return nil, nil, err
		}
		msgs = append(msgs, m.Marshal())
		refs = append(refs, mls.ProposalRef(m.Public))
	}
	return msgs, refs, nil
}
