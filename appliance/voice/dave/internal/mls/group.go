package mls

import (
	"bytes"
	"fmt"
)

// Group is one member's state of an MLS group in one epoch (RFC 9420
// §8.1, §12). A Group is never changed once returned: Commit, ProcessCommit
// and friends return the next epoch's Group, so a caller can keep the
// current one until it knows which commit wins.
type Group struct {
	ctx      GroupContext
	tree     *Tree
	own      uint32
	sigKey   SignaturePrivateKey
	pathKeys map[uint32]HPKEPrivateKey // node index -> private key we hold
	secrets  epochSecrets
	interim  []byte // interim transcript hash

	// resumption holds the resumption PSKs of recent epochs, for
	// resumption PSK proposals (§8.6); DAVE never sends those, the RFC
	// vectors do.
	resumption map[uint64][]byte
}

// keptResumptionEpochs bounds the resumption PSK history.
const keptResumptionEpochs = 8

// Epoch returns the group's epoch.
func (g *Group) Epoch() uint64 { return g.ctx.Epoch }

// GroupID returns the group's ID.
func (g *Group) GroupID() []byte { return g.ctx.GroupID }

// Context returns a copy of the GroupContext.
func (g *Group) Context() GroupContext { return g.ctx }

// OwnLeaf returns our leaf index.
func (g *Group) OwnLeaf() uint32 { return g.own }

// Tree returns the ratchet tree; callers must not modify it.
func (g *Group) Tree() *Tree { return g.tree }

// EpochAuthenticator returns the epoch's authenticator (§8.7).
func (g *Group) EpochAuthenticator() []byte { return g.secrets.authenticator }

// Export is MLS-Exporter(label, context, length) (§8.5).
func (g *Group) Export(label string, context []byte, length int) []byte {
	return export(g.secrets.exporter, label, context, length)
}

// ExternalSenders returns the external_senders group context extension.
func (g *Group) ExternalSenders() ([]ExternalSender, error) {
	e, ok := findExtension(g.ctx.Extensions, ExtExternalSenders)
	if !ok {
		return nil, nil
	}
	return UnmarshalExternalSenders(e.Data)
}

// Member is one occupied leaf.
type Member struct {
	Leaf     uint32
	Identity []byte
}

// Members lists the occupied leaves in index order.
func (g *Group) Members() []Member {
	var m []Member
	for i := uint32(0); i < g.tree.NumLeaves(); i++ {
		if l := g.tree.Leaf(i); l != nil {
			m = append(m, Member{Leaf: i, Identity: l.Credential.Identity})
		}
	}
	return m
}

func (g *Group) clone() *Group {
	c := *g
	c.tree = g.tree.clone()
	c.pathKeys = make(map[uint32]HPKEPrivateKey, len(g.pathKeys))
	for k, v := range g.pathKeys {
		c.pathKeys[k] = v
	}
	c.resumption = make(map[uint64][]byte, len(g.resumption)+1)
	for e, v := range g.resumption {
		if e+keptResumptionEpochs > g.ctx.Epoch {
			c.resumption[e] = v
		}
	}
	c.resumption[g.ctx.Epoch] = g.secrets.resumption
	return &c
}

// prunePathKeys forgets private keys whose node was blanked or replaced.
func (g *Group) prunePathKeys() {
	for x, k := range g.pathKeys {
		n := g.tree.node(x)
		if n == nil || !bytes.Equal(n.encryptionKey(), publicKeyBytes(k)) {
			delete(g.pathKeys, x)
		}
	}
}

// KeyPackageSecrets are the private halves of a key package.
type KeyPackageSecrets struct {
	Init       HPKEPrivateKey
	Encryption HPKEPrivateKey
	Signature  SignaturePrivateKey
}

// NewKeyPackage builds and signs a key package for a basic credential with
// the given capabilities, a fresh init key and a fresh leaf encryption key
// (§10). DAVE passes its fixed capabilities and no extensions.
func NewKeyPackage(identity []byte, sig SignaturePrivateKey, caps Capabilities, notBefore, notAfter uint64) (*KeyPackage, KeyPackageSecrets, error) {
	initKey, err := GenerateHPKEKey()
	if err != nil {
		return nil, KeyPackageSecrets{}, err
	}
	encKey, err := GenerateHPKEKey()
	if err != nil {
		return nil, KeyPackageSecrets{}, err
	}
	kp := &KeyPackage{
		Version: ProtocolVersion, CipherSuite: CipherSuite,
		InitKey: publicKeyBytes(initKey),
		Leaf: LeafNode{
			EncryptionKey: publicKeyBytes(encKey),
			SignatureKey:  sig.Public(),
			Credential:    Credential{Type: CredentialBasic, Identity: identity},
			Capabilities:  caps,
			Source:        SourceKeyPackage,
			NotBefore:     notBefore, NotAfter: notAfter,
		},
	}
	if err := kp.Leaf.Sign(sig, nil, 0); err != nil {
		return nil, KeyPackageSecrets{}, err
	}
	s, err := SignWithLabel(sig, "KeyPackageTBS", encode(kp.marshalTBS))
	if err != nil {
		return nil, KeyPackageSecrets{}, err
	}
	kp.Signature = s
	return kp, KeyPackageSecrets{Init: initKey, Encryption: encKey, Signature: sig}, nil
}

// CreateGroup creates a one-member group at epoch 0 whose only leaf is the
// leaf of kp (§11).
func CreateGroup(groupID []byte, kp *KeyPackage, secrets KeyPackageSecrets, extensions []Extension) (*Group, error) {
	tree := &Tree{}
	tree.addLeaf(&kp.Leaf)
	g := &Group{
		ctx: GroupContext{
			Version: ProtocolVersion, CipherSuite: CipherSuite,
			GroupID: groupID, Epoch: 0,
			TreeHash: tree.TreeHash(), ConfirmedTranscriptHash: []byte{},
			Extensions: extensions,
		},
		tree:     tree,
		own:      0,
		sigKey:   secrets.Signature,
		pathKeys: map[uint32]HPKEPrivateKey{0: secrets.Encryption},
	}
	ctx := g.ctx.Marshal()
	g.secrets = deriveEpoch(joinerSecret(randomBytes(hashSize), nil, ctx), nil, ctx)
	g.interim = interimTranscriptHash(g.ctx.ConfirmedTranscriptHash, mac(g.secrets.confirmation, g.ctx.ConfirmedTranscriptHash))
	return g, nil
}

// ValidateProposal checks a proposal message sent in this epoch by an
// external sender or a member (§12.1.8.1, §6.2) and returns its reference.
// Only Add and Remove are accepted from external senders.
func (g *Group) ValidateProposal(msg *Message) (ref []byte, p *Proposal, sender Sender, err error) {
	m := msg.Public
	if m == nil {
		return nil, nil, Sender{}, fmt.Errorf("%w: proposal in wire format %d", ErrUnsupported, msg.WireFormat)
	}
	c := &m.Content
	if !bytes.Equal(c.GroupID, g.ctx.GroupID) || c.Epoch != g.ctx.Epoch {
		return nil, nil, Sender{}, fmt.Errorf("%w: proposal for epoch %d, group is at %d", ErrWrongGroup, c.Epoch, g.ctx.Epoch)
	}
	if c.ContentType != ContentProposal {
		return nil, nil, Sender{}, fmt.Errorf("%w: content type %d where a proposal was expected", ErrInvalidProposal, c.ContentType)
	}
	switch c.Sender.Type {
	case SenderExternal:
		senders, err := g.ExternalSenders()
		if err != nil {
			return nil, nil, Sender{}, err
		}
		if int(c.Sender.Index) >= len(senders) {
			return nil, nil, Sender{}, fmt.Errorf("%w: external sender %d of %d", ErrInvalidProposal, c.Sender.Index, len(senders))
		}
		if err := verifyPublic(m, senders[c.Sender.Index].SignatureKey, nil); err != nil {
			return nil, nil, Sender{}, err
		}
		if t := c.Proposal.Type; t != ProposalAdd && t != ProposalRemove {
			return nil, nil, Sender{}, fmt.Errorf("%w: external proposal of type %d", ErrInvalidProposal, t)
		}
	case SenderMember:
		leaf := g.tree.Leaf(c.Sender.Index)
		if leaf == nil {
			return nil, nil, Sender{}, fmt.Errorf("%w: proposal from blank leaf %d", ErrInvalidProposal, c.Sender.Index)
		}
		if !macEqual(g.secrets.membership, membershipInput(m, &g.ctx), m.MembershipTag) {
			return nil, nil, Sender{}, ErrMembershipTag
		}
		if err := verifyPublic(m, leaf.SignatureKey, &g.ctx); err != nil {
			return nil, nil, Sender{}, err
		}
	default:
		return nil, nil, Sender{}, fmt.Errorf("%w: proposal from sender type %d", ErrUnsupported, c.Sender.Type)
	}
	if err := g.checkProposal(c.Proposal); err != nil {
		return nil, nil, Sender{}, err
	}
	return ProposalRef(m), c.Proposal, c.Sender, nil
}

// checkProposal applies the stand-alone checks of §12.2.
func (g *Group) checkProposal(p *Proposal) error {
	switch p.Type {
	case ProposalAdd:
		return p.Add.Verify()
	case ProposalRemove:
		if g.tree.Leaf(p.Remove) == nil {
			return fmt.Errorf("%w: remove of blank leaf %d", ErrInvalidProposal, p.Remove)
		}
	}
	return nil
}

func membershipInput(m *PublicMessage, ctx *GroupContext) []byte {
	tbm := framedContentTBS(WireFormatPublicMessage, &m.Content, ctx)
	return append(tbm, encode(m.marshalAuth)...)
}

// CachedProposal is a proposal received earlier, to be committed by
// reference.
type CachedProposal struct {
	Ref      []byte
	Proposal *Proposal
	Sender   Sender
}

// applied is what applying a commit's proposals to a tree yields.
type applied struct {
	added        []uint32
	removed      []uint32
	addedKPs     []*KeyPackage
	pathRequired bool
	psks         []PreSharedKeyID
	extensions   []Extension
	gce          bool
}

// applyProposals applies proposals in the order of §12.3 (extensions,
// updates, removes, adds) to tree, checking §12.2's rules.
func (g *Group) applyProposals(tree *Tree, props []CachedProposal, committer uint32) (applied, error) {
	a := applied{pathRequired: len(props) == 0}
	byType := func(t uint16) []CachedProposal {
		var v []CachedProposal
		for _, p := range props {
			if p.Proposal.Type == t {
				v = append(v, p)
			}
		}
		return v
	}
	for _, p := range props {
		switch p.Proposal.Type {
		case ProposalAdd, ProposalRemove, ProposalUpdate, ProposalPSK, ProposalGroupContextExtensions:
		default:
			return a, fmt.Errorf("%w: %d proposals are not supported", ErrUnsupported, p.Proposal.Type)
		}
	}
	if gce := byType(ProposalGroupContextExtensions); len(gce) > 0 {
		if len(gce) > 1 {
			return a, fmt.Errorf("%w: several group context extension proposals", ErrInvalidCommit)
		}
		a.gce, a.extensions, a.pathRequired = true, gce[0].Proposal.Extensions, true
	}
	seen := map[uint32]bool{}
	for _, p := range byType(ProposalUpdate) {
		if p.Sender.Type != SenderMember || p.Sender.Index == committer || seen[p.Sender.Index] {
			return a, fmt.Errorf("%w: update from leaf %d", ErrInvalidCommit, p.Sender.Index)
		}
		seen[p.Sender.Index] = true
		l := p.Proposal.Update
		if l.Source != SourceUpdate {
			return a, fmt.Errorf("%w: update leaf source %d", ErrInvalidLeaf, l.Source)
		}
		if err := l.Verify(g.ctx.GroupID, p.Sender.Index); err != nil {
			return a, err
		}
		tree.nodes[leafNode(p.Sender.Index)] = &Node{Leaf: l}
		tree.blankPath(p.Sender.Index)
		a.pathRequired = true
	}
	for _, p := range byType(ProposalRemove) {
		r := p.Proposal.Remove
		if tree.Leaf(r) == nil || r == committer || seen[r] {
			return a, fmt.Errorf("%w: remove of leaf %d", ErrInvalidCommit, r)
		}
		seen[r] = true
		a.removed = append(a.removed, r)
		tree.removeLeaf(r)
		a.pathRequired = true
	}
	for _, p := range byType(ProposalAdd) {
		if err := p.Proposal.Add.Verify(); err != nil {
			return a, err
		}
		a.added = append(a.added, tree.addLeaf(&p.Proposal.Add.Leaf))
		a.addedKPs = append(a.addedKPs, p.Proposal.Add)
	}
	for _, p := range byType(ProposalPSK) {
		a.psks = append(a.psks, *p.Proposal.PSK)
	}
	return a, tree.checkUnique()
}

// checkUnique rejects trees in which two nodes share an encryption key or
// two leaves a signature key.
func (t *Tree) checkUnique() error {
	enc, sig := map[string]bool{}, map[string]bool{}
	for x, n := range t.nodes {
		if n == nil {
			continue
		}
		if enc[string(n.encryptionKey())] {
			return fmt.Errorf("%w: encryption key of node %d appears twice", ErrInvalidTree, x)
		}
		enc[string(n.encryptionKey())] = true
		if n.Leaf != nil {
			if sig[string(n.Leaf.SignatureKey)] {
				return fmt.Errorf("%w: signature key of leaf %d appears twice", ErrInvalidTree, x/2)
			}
			sig[string(n.Leaf.SignatureKey)] = true
		}
	}
	return nil
}

// setPathParentHashes fills the parent_hash of the nodes on a filtered
// direct path, top down, and returns the hash the leaf must carry (§7.9).
func (t *Tree) setPathParentHashes(fdp []pathStep) []byte {
	ph := []byte{}
	for i := len(fdp) - 1; i >= 0; i-- {
		p := t.parentNode(fdp[i].node)
		p.ParentHash = ph
		ph = t.parentHashOf(fdp[i].node, fdp[i].copath)
	}
	return ph
}

// PSKLookup returns the secret of a pre-shared key, or false.
type PSKLookup func(id PreSharedKeyID) ([]byte, bool)

// withResumption extends lookup with this group's resumption PSKs.
func (g *Group) withResumption(lookup PSKLookup) PSKLookup {
	return func(id PreSharedKeyID) ([]byte, bool) {
		if id.Type == PSKResumption {
			if id.Usage != 1 || !bytes.Equal(id.GroupID, g.ctx.GroupID) {
				return nil, false
			}
			v, ok := g.resumption[id.Epoch]
			return v, ok
		}
		if lookup == nil {
			return nil, false
		}
		return lookup(id)
	}
}

func resolvePSKs(ids []PreSharedKeyID, lookup PSKLookup) ([]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	psks := make([][]byte, len(ids))
	for i, id := range ids {
		var ok bool
		if lookup != nil {
			psks[i], ok = lookup(id)
		}
		if !ok {
			return nil, fmt.Errorf("%w: pre-shared key %x (type %d)", ErrUnsupported, id.ID, id.Type)
		}
	}
	return pskSecret(ids, psks), nil
}
