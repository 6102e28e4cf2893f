package mls

import "fmt"

// Message framing and authentication (RFC 9420 §6.1, §6.2).

// authenticatedContent is AuthenticatedContent (§6.1): what a signature
// and a ProposalRef cover.
type authenticatedContent struct {
	WireFormat      uint16
	Content         FramedContent
	Signature       []byte
	ConfirmationTag []byte
}

func (a *authenticatedContent) marshal(w *writer) {
	w.u16(a.WireFormat)
	a.Content.marshal(w)
	w.opaque(a.Signature)
	if a.Content.ContentType == ContentCommit {
		w.opaque(a.ConfirmationTag)
	}
}

func (a *authenticatedContent) unmarshal(r *reader) {
	a.WireFormat = r.u16()
	a.Content.unmarshal(r)
	a.Signature = r.opaque()
	if a.Content.ContentType == ContentCommit {
		a.ConfirmationTag = r.opaque()
	}
}

func publicContent(m *PublicMessage) *authenticatedContent {
	return &authenticatedContent{WireFormat: WireFormatPublicMessage, Content: m.Content,
		Signature: m.Signature, ConfirmationTag: m.ConfirmationTag}
}

// ProposalRef returns the reference of a proposal sent as a PublicMessage
// (§5.2).
func ProposalRef(m *PublicMessage) []byte {
	return RefHash("MLS 1.0 Proposal Reference", encode(publicContent(m).marshal))
}

// framedContentTBS is FramedContentTBS (§6.1). Member senders (and new
// members committing) bind the GroupContext; external senders do not.
func framedContentTBS(wireFormat uint16, c *FramedContent, ctx *GroupContext) []byte {
	return encode(func(w *writer) {
		w.u16(ProtocolVersion)
		w.u16(wireFormat)
		c.marshal(w)
		if c.Sender.Type == SenderMember || c.Sender.Type == SenderNewMemberCommit {
			ctx.marshal(w)
		}
	})
}

// signPublic signs m's content.
func signPublic(m *PublicMessage, k SignaturePrivateKey, ctx *GroupContext) error {
	sig, err := SignWithLabel(k, "FramedContentTBS", framedContentTBS(WireFormatPublicMessage, &m.Content, ctx))
	m.Signature = sig
	return err
}

// verifyPublic checks m's signature against pub.
func verifyPublic(m *PublicMessage, pub []byte, ctx *GroupContext) error {
	return VerifyWithLabel(pub, "FramedContentTBS", framedContentTBS(WireFormatPublicMessage, &m.Content, ctx), m.Signature)
}

// SignExternalProposal builds and signs an external sender's proposal
// (§12.1.8.1): sender type external, no membership tag, no GroupContext
// in the signed content.
func SignExternalProposal(k SignaturePrivateKey, senderIndex uint32, groupID []byte, epoch uint64, p *Proposal) (*Message, error) {
	if p.Type != ProposalAdd && p.Type != ProposalRemove {
		return nil, fmt.Errorf("%w: external proposal of type %d", ErrUnsupported, p.Type)
	}
	m := &PublicMessage{Content: FramedContent{
		GroupID: groupID, Epoch: epoch,
		Sender:      Sender{Type: SenderExternal, Index: senderIndex},
		ContentType: ContentProposal, Proposal: p,
	}}
	if err := signPublic(m, k, nil); err != nil {
		return nil, err
	}
	return &Message{WireFormat: WireFormatPublicMessage, Public: m}, nil
}
