package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// ErrRemoved is returned by ProcessCommit when the commit removes us: the
// commit is valid, but there is no next epoch for this member.
var ErrRemoved = fmt.Errorf("mls: this member was removed by the commit")

// ProcessCommit follows a commit sent by another member as a PublicMessage
// (§12.4.2): it checks the signature and membership tag, applies the
// proposals (by reference through lookup, or by value), decrypts and
// verifies the UpdatePath, runs the key schedule and checks the
// confirmation tag. It returns the next epoch's Group.
func (g *Group) ProcessCommit(msg *Message, lookup func(ref []byte) (CachedProposal, bool), psks PSKLookup) (*Group, error) {
	m := msg.Public
	if m == nil {
		return nil, fmt.Errorf("%w: commit in wire format %d", ErrUnsupported, msg.WireFormat)
	}
	c := &m.Content
	if !bytes.Equal(c.GroupID, g.ctx.GroupID) || c.Epoch != g.ctx.Epoch {
		return nil, fmt.Errorf("%w: commit for epoch %d, group is at %d", ErrWrongGroup, c.Epoch, g.ctx.Epoch)
	}
	if c.ContentType != ContentCommit {
		return nil, fmt.Errorf("%w: content type %d where a commit was expected", ErrInvalidCommit, c.ContentType)
	}
	if c.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: commit from sender type %d", ErrUnsupported, c.Sender.Type)
	}
	committer := c.Sender.Index
	leaf := g.tree.Leaf(committer)
	if leaf == nil {
		return nil, fmt.Errorf("%w: commit from blank leaf %d", ErrInvalidCommit, committer)
	}
	if committer == g.own {
		return nil, fmt.Errorf("%w: commit claims to come from our own leaf", ErrInvalidCommit)
	}
	if !macEqual(g.secrets.membership, membershipInput(m, &g.ctx), m.MembershipTag) {
		return nil, ErrMembershipTag
	}
	if err := verifyPublic(m, leaf.SignatureKey, &g.ctx); err != nil {
		return nil, err
	}

	props := make([]CachedProposal, 0, len(c.Commit.Proposals))
	for _, p := range c.Commit.Proposals {
		if p.Proposal != nil {
			props = append(props, CachedProposal{Proposal: p.Proposal, Sender: c.Sender})
			continue
		}
		cp, ok := lookup(p.Ref)
		if !ok {
			return nil, fmt.Errorf("%w: %x", ErrUnknownProposal, p.Ref)
		}
		props = append(props, cp)
	}
	next := g.clone()
	a, err := g.applyProposals(next.tree, props, committer)
	if err != nil {
		return nil, err
	}
	if slices.Contains(a.removed, g.own) {
		return nil, ErrRemoved
	}
	if a.pathRequired && c.Commit.Path == nil {
		return nil, fmt.Errorf("%w: an update path is required", ErrInvalidCommit)
	}
	extensions := g.ctx.Extensions
	if a.gce {
		extensions = a.extensions
	}

	var commitSecret []byte
	if path := c.Commit.Path; path != nil {
		if commitSecret, err = next.applyPath(path, committer, a.added, g.ctx.ConfirmedTranscriptHash, extensions); err != nil {
			return nil, err
		}
	}
	next.prunePathKeys()

	pskSecret, err := resolvePSKs(a.psks, next.withResumption(psks))
	if err != nil {
		return nil, err
	}
	confirmed := confirmedTranscriptHash(g.interim, WireFormatPublicMessage, c, m.Signature)
	next.ctx = GroupContext{
		Version: ProtocolVersion, CipherSuite: CipherSuite, GroupID: g.ctx.GroupID,
		Epoch: g.ctx.Epoch + 1, TreeHash: next.tree.TreeHash(),
		ConfirmedTranscriptHash: confirmed, Extensions: extensions,
	}
	ctx := next.ctx.Marshal()
	next.secrets = deriveEpoch(joinerSecret(g.secrets.init, commitSecret, ctx), pskSecret, ctx)
	if !macEqual(next.secrets.confirmation, confirmed, m.ConfirmationTag) {
		return nil, ErrConfirmationTag
	}
	next.interim = interimTranscriptHash(confirmed, m.ConfirmationTag)
	return next, nil
}

// applyPath merges another member's UpdatePath into g.tree (on which the
// proposals were applied), checks its parent hashes, decrypts the path
// secret meant for us and returns the commit secret (§7.5, §7.6,
// §12.4.2).
func (g *Group) applyPath(path *UpdatePath, committer uint32, added []uint32, confirmed []byte, extensions []Extension) ([]byte, error) {
	t := g.tree
	l := &path.Leaf
	if l.Source != SourceCommit {
		return nil, fmt.Errorf("%w: path leaf source %d", ErrInvalidLeaf, l.Source)
	}
	if err := l.Verify(g.ctx.GroupID, committer); err != nil {
		return nil, err
	}
	fdp := t.filteredDirectPath(committer)
	if len(path.Nodes) != len(fdp) {
		return nil, fmt.Errorf("%w: %d path nodes for a filtered direct path of %d", ErrInvalidPath, len(path.Nodes), len(fdp))
	}
	t.blankPath(committer)
	for i, s := range fdp {
		t.nodes[s.node] = &Node{Parent: &ParentNode{EncryptionKey: path.Nodes[i].EncryptionKey}}
	}
	if ph := t.setPathParentHashes(fdp); !bytes.Equal(ph, l.ParentHash) {
		return nil, fmt.Errorf("%w: update path leaf", ErrParentHash)
	}
	t.nodes[leafNode(committer)] = &Node{Leaf: l}
	if err := t.checkUnique(); err != nil {
		return nil, err
	}

	// Decrypt under the provisional GroupContext: new epoch and tree, old
	// transcript.
	provisional := GroupContext{
		Version: ProtocolVersion, CipherSuite: CipherSuite, GroupID: g.ctx.GroupID,
		Epoch: g.ctx.Epoch + 1, TreeHash: t.TreeHash(),
		ConfirmedTranscriptHash: confirmed, Extensions: extensions,
	}
	ctx := provisional.Marshal()
	ownNode := leafNode(g.own)
	for i, s := range fdp {
		if !isInSubtree(s.copath, ownNode) {
			continue
		}
		res := excludeLeaves(t.resolution(s.copath), added)
		if len(path.Nodes[i].Secrets) != len(res) {
			return nil, fmt.Errorf("%w: %d secrets for a resolution of %d", ErrInvalidPath, len(path.Nodes[i].Secrets), len(res))
		}
		for j, x := range res {
			k, ok := g.pathKeys[x]
			if !ok {
				continue
			}
			secret, err := DecryptWithLabel(k, "UpdatePathNode", ctx, path.Nodes[i].Secrets[j])
			if err != nil {
				return nil, fmt.Errorf("%w: path secret of node %d: %w", ErrInvalidPath, s.node, err)
			}
			return g.derivePath(fdp[i:], secret)
		}
		return nil, fmt.Errorf("%w: no private key for the resolution of node %d", ErrInvalidPath, s.copath)
	}
	return nil, fmt.Errorf("%w: our leaf is not below the committer's path", ErrInvalidPath)
}

// derivePath derives the node keys of steps from the first one's path
// secret, checks them against the tree, keeps the private keys and returns
// the commit secret.
func (g *Group) derivePath(steps []pathStep, secret []byte) ([]byte, error) {
	for _, s := range steps {
		k := DeriveKeyPair(DeriveSecret(secret, "node"))
		if !bytes.Equal(publicKeyBytes(k), g.tree.parentNode(s.node).EncryptionKey) {
			return nil, fmt.Errorf("%w: path secret does not derive the key of node %d", ErrInvalidPath, s.node)
		}
		g.pathKeys[s.node] = k
		secret = DeriveSecret(secret, "path")
	}
	return secret, nil
}

func excludeLeaves(res []uint32, leaves []uint32) []uint32 {
	out := res[:0:0]
	for _, x := range res {
		skip := false
		for _, l := range leaves {
			if x == leafNode(l) {
				skip = true
			}
		}
		if !skip {
			out = append(out, x)
		}
	}
	return out
}

// PendingCommit is a commit we created, with the state it leads to.
type PendingCommit struct {
	Message *Message // the commit as an MLSMessage (PublicMessage)
	Welcome *Welcome // nil unless the commit adds members
	Next    *Group   // the group after the commit
}

// Commit commits the given proposals by reference (§12.4): it applies
// them, adds an UpdatePath when one is required (or when forcePath is
// set), signs the commit, computes its confirmation and membership tags
// and, when members are added, builds their Welcome with the ratchet tree
// inline.
func (g *Group) Commit(props []CachedProposal, forcePath bool) (*PendingCommit, error) {
	next := g.clone()
	a, err := g.applyProposals(next.tree, props, g.own)
	if err != nil {
		return nil, err
	}
	extensions := g.ctx.Extensions
	if a.gce {
		extensions = a.extensions
	}
	if len(a.psks) > 0 {
		return nil, fmt.Errorf("%w: committing pre-shared keys", ErrUnsupported)
	}
	commit := &Commit{}
	for _, p := range props {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Ref: p.Ref})
	}

	var commitSecret []byte
	var pathSecrets map[uint32][]byte // node -> path secret, for Welcomes
	if a.pathRequired || forcePath {
		commit.Path, commitSecret, pathSecrets, err = next.createPath(a.added, g.ctx.ConfirmedTranscriptHash, extensions)
		if err != nil {
			return nil, err
		}
	}
	next.prunePathKeys()

	content := FramedContent{
		GroupID: g.ctx.GroupID, Epoch: g.ctx.Epoch,
		Sender:      Sender{Type: SenderMember, Index: g.own},
		ContentType: ContentCommit, Commit: commit,
	}
	pm := &PublicMessage{Content: content}
	if err := signPublic(pm, g.sigKey, &g.ctx); err != nil {
		return nil, err
	}
	confirmed := confirmedTranscriptHash(g.interim, WireFormatPublicMessage, &pm.Content, pm.Signature)
	next.ctx = GroupContext{
		Version: ProtocolVersion, CipherSuite: CipherSuite, GroupID: g.ctx.GroupID,
		Epoch: g.ctx.Epoch + 1, TreeHash: next.tree.TreeHash(),
		ConfirmedTranscriptHash: confirmed, Extensions: extensions,
	}
	ctx := next.ctx.Marshal()
	joiner := joinerSecret(g.secrets.init, commitSecret, ctx)
	next.secrets = deriveEpoch(joiner, nil, ctx)
	pm.ConfirmationTag = mac(next.secrets.confirmation, confirmed)
	pm.MembershipTag = mac(g.secrets.membership, membershipInput(pm, &g.ctx))
	next.interim = interimTranscriptHash(confirmed, pm.ConfirmationTag)

	pc := &PendingCommit{Message: &Message{WireFormat: WireFormatPublicMessage, Public: pm}, Next: next}
	if len(a.added) > 0 {
		if pc.Welcome, err = next.welcome(joiner, pm.ConfirmationTag, a, pathSecrets); err != nil {
			return nil, err
		}
	}
	return pc, nil
}

// createPath generates our UpdatePath on g.tree (after the proposals):
// a fresh leaf key, path secrets up the filtered direct path, parent
// hashes, the re-signed leaf, and the path secrets encrypted to every
// copath resolution except the new members (§7.5, §7.6, §7.9). It returns
// the path, the commit secret and the path secret of each path node.
func (g *Group) createPath(added []uint32, confirmed []byte, extensions []Extension) (*UpdatePath, []byte, map[uint32][]byte, error) {
	t := g.tree
	leafKey, err := GenerateHPKEKey()
	if err != nil {
		return nil, nil, nil, err
	}
	fdp := t.filteredDirectPath(g.own)
	t.blankPath(g.own)
	secrets := map[uint32][]byte{}
	secret := randomBytes(hashSize)
	var pathKeys []HPKEPrivateKey
	for _, s := range fdp {
		k := DeriveKeyPair(DeriveSecret(secret, "node"))
		pathKeys = append(pathKeys, k)
		secrets[s.node] = secret
		t.nodes[s.node] = &Node{Parent: &ParentNode{EncryptionKey: publicKeyBytes(k)}}
		g.pathKeys[s.node] = k
		secret = DeriveSecret(secret, "path")
	}
	commitSecret := secret

	old := t.Leaf(g.own)
	leaf := old.clone()
	leaf.EncryptionKey = publicKeyBytes(leafKey)
	leaf.Source = SourceCommit
	leaf.NotBefore, leaf.NotAfter = 0, 0
	leaf.ParentHash = t.setPathParentHashes(fdp)
	if err := leaf.Sign(g.sigKey, g.ctx.GroupID, g.own); err != nil {
		return nil, nil, nil, err
	}
	t.nodes[leafNode(g.own)] = &Node{Leaf: leaf}
	g.pathKeys[leafNode(g.own)] = leafKey

	provisional := GroupContext{
		Version: ProtocolVersion, CipherSuite: CipherSuite, GroupID: g.ctx.GroupID,
		Epoch: g.ctx.Epoch + 1, TreeHash: t.TreeHash(),
		ConfirmedTranscriptHash: confirmed, Extensions: extensions,
	}
	ctx := provisional.Marshal()
	path := &UpdatePath{Leaf: *leaf}
	for i, s := range fdp {
		node := UpdatePathNode{EncryptionKey: publicKeyBytes(pathKeys[i])}
		for _, x := range excludeLeaves(t.resolution(s.copath), added) {
			ct, err := EncryptWithLabel(t.node(x).encryptionKey(), "UpdatePathNode", ctx, secrets[s.node])
			if err != nil {
				return nil, nil, nil, err
			}
			node.Secrets = append(node.Secrets, ct)
		}
		path.Nodes = append(path.Nodes, node)
	}
	return path, commitSecret, secrets, nil
}
