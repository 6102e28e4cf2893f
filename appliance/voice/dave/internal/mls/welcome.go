package mls

import (
	"bytes"
	"fmt"
)

// welcome builds the Welcome for the members a commit added
// (§12.4.3.1): a signed GroupInfo carrying the ratchet tree, encrypted with
// the welcome secret, and per new member its GroupSecrets sealed to its
// init key, with the path secret of the lowest node its leaf shares with
// our path.
func (g *Group) welcome(joiner, confirmationTag []byte, a applied, pathSecrets map[uint32][]byte) (*Welcome, error) {
	gi := &GroupInfo{
		Context:         g.ctx,
		Extensions:      []Extension{{Type: ExtRatchetTree, Data: g.tree.Marshal()}},
		ConfirmationTag: confirmationTag,
		Signer:          g.own,
	}
	sig, err := SignWithLabel(g.sigKey, "GroupInfoTBS", encode(gi.marshalTBS))
	if err != nil {
		return nil, err
	}
	gi.Signature = sig
	key, nonce := welcomeKeyNonce(extractWelcome(joiner, nil))
	w := &Welcome{CipherSuite: CipherSuite, EncryptedGroupInfo: aeadSeal(key, nonce, encode(gi.marshal))}
	for i, leaf := range a.added {
		gs := GroupSecrets{JoinerSecret: joiner}
		if pathSecrets != nil {
			gs.PathSecret = pathSecrets[commonAncestor(leafNode(leaf), leafNode(g.own))]
		}
		ct, err := EncryptWithLabel(a.addedKPs[i].InitKey, "Welcome", w.EncryptedGroupInfo, encode(gs.marshal))
		if err != nil {
			return nil, err
		}
		w.Secrets = append(w.Secrets, EncryptedGroupSecrets{NewMember: a.addedKPs[i].Ref(), Secrets: ct})
	}
	return w, nil
}

// extractWelcome derives welcome_secret from the joiner secret (§8).
func extractWelcome(joiner, pskSecret []byte) []byte {
	if pskSecret == nil {
		pskSecret = zeroSecret
	}
	return DeriveSecret(extract(joiner, pskSecret), "welcome")
}

// decryptGroupInfo opens a Welcome's GroupSecrets with our init key and
// then its GroupInfo.
func decryptGroupInfo(w *Welcome, kp *KeyPackage, initKey HPKEPrivateKey, psks PSKLookup) (*GroupSecrets, *GroupInfo, []byte, error) {
	if w.CipherSuite != CipherSuite {
		return nil, nil, nil, fmt.Errorf("%w: welcome for ciphersuite %d", ErrUnsupported, w.CipherSuite)
	}
	ref := kp.Ref()
	var sealed *HPKECiphertext
	for i := range w.Secrets {
		if bytes.Equal(w.Secrets[i].NewMember, ref) {
			sealed = &w.Secrets[i].Secrets
		}
	}
	if sealed == nil {
		return nil, nil, nil, ErrNotInvited
	}
	pt, err := DecryptWithLabel(initKey, "Welcome", w.EncryptedGroupInfo, *sealed)
	if err != nil {
		return nil, nil, nil, err
	}
	gs := new(GroupSecrets)
	if err := decode(pt, gs.unmarshal); err != nil {
		return nil, nil, nil, err
	}
	pskSecret, err := resolvePSKs(gs.PSKs, psks)
	if err != nil {
		return nil, nil, nil, err
	}
	key, nonce := welcomeKeyNonce(extractWelcome(gs.JoinerSecret, pskSecret))
	pt, err = aeadOpen(key, nonce, w.EncryptedGroupInfo)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("group info: %w", err)
	}
	gi := new(GroupInfo)
	if err := decode(pt, gi.unmarshal); err != nil {
		return nil, nil, nil, err
	}
	return gs, gi, pskSecret, nil
}

// JoinWelcome joins a group from a Welcome (§12.4.3.1): it opens the
// GroupSecrets and GroupInfo, imports and fully validates the ratchet tree
// (from the GroupInfo's ratchet_tree extension, or tree when the Welcome
// has none), verifies the GroupInfo signature, derives the path keys it is
// given and the epoch, and checks the confirmation tag.
func JoinWelcome(w *Welcome, kp *KeyPackage, secrets KeyPackageSecrets, tree *Tree, psks PSKLookup) (*Group, error) {
	gs, gi, pskSecret, err := decryptGroupInfo(w, kp, secrets.Init, psks)
	if err != nil {
		return nil, err
	}
	if gi.Context.Version != ProtocolVersion || gi.Context.CipherSuite != CipherSuite {
		return nil, fmt.Errorf("%w: group version %d suite %d", ErrUnsupported, gi.Context.Version, gi.Context.CipherSuite)
	}
	if e, ok := findExtension(gi.Extensions, ExtRatchetTree); ok {
		if tree, err = UnmarshalTree(e.Data); err != nil {
			return nil, fmt.Errorf("ratchet tree: %w", err)
		}
	}
	if tree == nil {
		return nil, fmt.Errorf("%w: welcome without a ratchet tree", ErrInvalidTree)
	}
	tree = tree.clone()
	signer := tree.Leaf(gi.Signer)
	if signer == nil {
		return nil, fmt.Errorf("%w: group info signed by blank leaf %d", ErrSignature, gi.Signer)
	}
	if err := VerifyWithLabel(signer.SignatureKey, "GroupInfoTBS", encode(gi.marshalTBS), gi.Signature); err != nil {
		return nil, fmt.Errorf("group info: %w", err)
	}
	if err := tree.Verify(gi.Context.GroupID, gi.Context.TreeHash); err != nil {
		return nil, err
	}
	own, ok := tree.findLeaf(kp.Leaf.EncryptionKey)
	if !ok || !bytes.Equal(encode(tree.Leaf(own).marshal), encode(kp.Leaf.marshal)) {
		return nil, fmt.Errorf("%w: our key package's leaf is not in the tree", ErrInvalidTree)
	}
	g := &Group{
		ctx:      gi.Context,
		tree:     tree,
		own:      own,
		sigKey:   secrets.Signature,
		pathKeys: map[uint32]HPKEPrivateKey{leafNode(own): secrets.Encryption},
	}
	if gs.PathSecret != nil {
		lca := commonAncestor(leafNode(own), leafNode(gi.Signer))
		var steps []pathStep
		for _, x := range directPath(leafNode(own), tree.NumLeaves()) {
			if isInSubtree(x, lca) && tree.parentNode(x) != nil {
				steps = append(steps, pathStep{node: x})
			}
		}
		if len(steps) == 0 || steps[0].node != lca {
			return nil, fmt.Errorf("%w: path secret for blank node %d", ErrInvalidPath, lca)
		}
		if _, err := g.derivePath(steps, gs.PathSecret); err != nil {
			return nil, err
		}
	}
	ctx := g.ctx.Marshal()
	g.secrets = deriveEpoch(gs.JoinerSecret, pskSecret, ctx)
	if !macEqual(g.secrets.confirmation, g.ctx.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		return nil, ErrConfirmationTag
	}
	g.interim = interimTranscriptHash(g.ctx.ConfirmedTranscriptHash, gi.ConfirmationTag)
	return g, nil
}

// OpenWelcome decrypts a Welcome's GroupInfo and checks its signature
// against signerKey, without joining (the welcome.json vector).
func OpenWelcome(w *Welcome, kp *KeyPackage, initKey HPKEPrivateKey, signerKey []byte) (*GroupInfo, error) {
	gs, gi, pskSecret, err := decryptGroupInfo(w, kp, initKey, nil)
	if err != nil {
		return nil, err
	}
	if err := VerifyWithLabel(signerKey, "GroupInfoTBS", encode(gi.marshalTBS), gi.Signature); err != nil {
		return nil, err
	}
	s := deriveEpoch(gs.JoinerSecret, pskSecret, gi.Context.Marshal())
	if !macEqual(s.confirmation, gi.Context.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		return nil, ErrConfirmationTag
	}
	return gi, nil
}
