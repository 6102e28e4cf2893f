package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestWelcomeVectors checks welcome.json for suite 2: the Welcome opens
// with the init key, the GroupInfo signature and confirmation tag verify.
func TestWelcomeVectors(t *testing.T) {
	var cases []struct {
		CipherSuite int      `json:"cipher_suite"`
		InitPriv    hexBytes `json:"init_priv"`
		SignerPub   hexBytes `json:"signer_pub"`
		KeyPackage  hexBytes `json:"key_package"`
		Welcome     hexBytes `json:"welcome"`
	}
	loadVectors(t, "welcome.json", &cases)
	n := 0
	for _, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		kpMsg, err := UnmarshalMessage(c.KeyPackage)
		if err != nil {
			t.Fatal(err)
		}
		wMsg, err := UnmarshalMessage(c.Welcome)
		if err != nil {
			t.Fatal(err)
		}
		initKey, err := ParseHPKEPrivateKey(c.InitPriv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenWelcome(wMsg.Welcome, kpMsg.KeyPackage, initKey, c.SignerPub); err != nil {
			t.Fatal(err)
		}
		other, _ := GenerateHPKEKey()
		if _, err := OpenWelcome(wMsg.Welcome, kpMsg.KeyPackage, other, c.SignerPub); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("welcome opened with another init key: %v", err)
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

// TestTreeKEMVectors checks treekem.json for suite 2: every private leaf
// decrypts every UpdatePath to the same commit secret and tree hash, and
// paths we generate from each private leaf are decrypted by all others.
func TestTreeKEMVectors(t *testing.T) {
	var cases []struct {
		CipherSuite             int      `json:"cipher_suite"`
		GroupID                 hexBytes `json:"group_id"`
		Epoch                   uint64   `json:"epoch"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		RatchetTree             hexBytes `json:"ratchet_tree"`
		LeavesPrivate           []struct {
			Index          uint32   `json:"index"`
			EncryptionPriv hexBytes `json:"encryption_priv"`
			SignaturePriv  hexBytes `json:"signature_priv"`
			PathSecrets    []struct {
				Node       uint32   `json:"node"`
				PathSecret hexBytes `json:"path_secret"`
			} `json:"path_secrets"`
		} `json:"leaves_private"`
		UpdatePaths []struct {
			Sender        uint32     `json:"sender"`
			UpdatePath    hexBytes   `json:"update_path"`
			PathSecrets   []hexBytes `json:"path_secrets"`
			CommitSecret  hexBytes   `json:"commit_secret"`
			TreeHashAfter hexBytes   `json:"tree_hash_after"`
		} `json:"update_paths"`
	}
	loadVectors(t, "treekem.json", &cases)
	n := 0
	for ci, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		tree, err := UnmarshalTree(c.RatchetTree)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Verify(c.GroupID, nil); err != nil {
			t.Fatalf("case %d: %v", ci, err)
		}
		// The vector's epoch is the provisional GroupContext's (the new
		// epoch); applyPath adds one to the group's.
		ctx := GroupContext{Version: 1, CipherSuite: CipherSuite, GroupID: c.GroupID, Epoch: c.Epoch - 1,
			TreeHash: tree.TreeHash(), ConfirmedTranscriptHash: c.ConfirmedTranscriptHash}
		members := map[uint32]*Group{}
		for _, lp := range c.LeavesPrivate {
			enc, err := ParseHPKEPrivateKey(lp.EncryptionPriv)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := ParseSignaturePrivateKey(lp.SignaturePriv)
			if err != nil {
				t.Fatal(err)
			}
			g := &Group{ctx: ctx, tree: tree, own: lp.Index, sigKey: sig,
				pathKeys: map[uint32]HPKEPrivateKey{leafNode(lp.Index): enc}}
			for _, ps := range lp.PathSecrets {
				k := DeriveKeyPair(DeriveSecret(ps.PathSecret, "node"))
				if !bytes.Equal(publicKeyBytes(k), tree.parentNode(ps.Node).EncryptionKey) {
					t.Fatalf("case %d leaf %d: path secret of node %d derives another key", ci, lp.Index, ps.Node)
				}
				g.pathKeys[ps.Node] = k
			}
			members[lp.Index] = g
		}
		for ui, up := range c.UpdatePaths {
			var path UpdatePath
			if err := decode(up.UpdatePath, path.unmarshal); err != nil {
				t.Fatal(err)
			}
			for idx, g := range members {
				if idx == up.Sender {
					continue
				}
				next := g.clone()
				secret, err := next.applyPath(&path, up.Sender, nil, c.ConfirmedTranscriptHash, nil)
				if err != nil {
					t.Fatalf("case %d path %d leaf %d: %v", ci, ui, idx, err)
				}
				if !bytes.Equal(secret, up.CommitSecret) {
					t.Fatalf("case %d path %d leaf %d: commit secret %x, want %x", ci, ui, idx, secret, up.CommitSecret)
				}
				if got := next.tree.TreeHash(); !bytes.Equal(got, up.TreeHashAfter) {
					t.Fatalf("case %d path %d: tree hash after %x, want %x", ci, ui, got, up.TreeHashAfter)
				}
			}
		}
		// Generate a path from each private leaf; every other one follows.
		for idx, g := range members {
			sender := g.clone()
			path, secret, _, err := sender.createPath(nil, c.ConfirmedTranscriptHash, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := sender.tree.verifyParentHashes(); err != nil {
				t.Fatalf("case %d: own path from leaf %d: %v", ci, idx, err)
			}
			for r, rg := range members {
				if r == idx {
					continue
				}
				next := rg.clone()
				got, err := next.applyPath(path, idx, nil, c.ConfirmedTranscriptHash, nil)
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("case %d: path from %d to %d: %v (secret equal: %v)", ci, idx, r, err, bytes.Equal(got, secret))
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

type passiveCase struct {
	CipherSuite    int      `json:"cipher_suite"`
	KeyPackage     hexBytes `json:"key_package"`
	SignaturePriv  hexBytes `json:"signature_priv"`
	EncryptionPriv hexBytes `json:"encryption_priv"`
	InitPriv       hexBytes `json:"init_priv"`
	Welcome        hexBytes `json:"welcome"`
	RatchetTree    hexBytes `json:"ratchet_tree"`
	ExternalPSKs   []struct {
		PSKID hexBytes `json:"psk_id"`
		PSK   hexBytes `json:"psk"`
	} `json:"external_psks"`
	InitialEpochAuthenticator hexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

// errSkip marks a vector case that uses a feature DAVE does not need.
type errSkip struct{ feature string }

func (e errSkip) Error() string { return "uses " + e.feature + ", which DAVE does not use" }

// runPassive joins by Welcome and follows every epoch of a passive-client
// case, checking each epoch authenticator.
func runPassive(c *passiveCase) error {
	kpMsg, err := UnmarshalMessage(c.KeyPackage)
	if err != nil {
		return err
	}
	wMsg, err := UnmarshalMessage(c.Welcome)
	if err != nil {
		return err
	}
	var secrets KeyPackageSecrets
	if secrets.Init, err = ParseHPKEPrivateKey(c.InitPriv); err != nil {
		return err
	}
	if secrets.Encryption, err = ParseHPKEPrivateKey(c.EncryptionPriv); err != nil {
		return err
	}
	if secrets.Signature, err = ParseSignaturePrivateKey(c.SignaturePriv); err != nil {
		return err
	}
	var tree *Tree
	if c.RatchetTree != nil {
		if tree, err = UnmarshalTree(c.RatchetTree); err != nil {
			return err
		}
	}
	psks := func(id PreSharedKeyID) ([]byte, bool) {
		if id.Type != PSKExternal {
			return nil, false
		}
		for _, p := range c.ExternalPSKs {
			if bytes.Equal(p.PSKID, id.ID) {
				return p.PSK, true
			}
		}
		return nil, false
	}
	g, err := JoinWelcome(wMsg.Welcome, kpMsg.KeyPackage, secrets, tree, psks)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), c.InitialEpochAuthenticator) {
		return fmt.Errorf("join: epoch authenticator %x, want %x", g.EpochAuthenticator(), c.InitialEpochAuthenticator)
	}
	for i, e := range c.Epochs {
		cache := map[string]CachedProposal{}
		for _, raw := range e.Proposals {
			m, err := UnmarshalMessage(raw)
			if err != nil {
				return err
			}
			if m.Private != nil {
				return errSkip{"PrivateMessage"}
			}
			ref, p, sender, err := g.ValidateProposal(m)
			if err != nil {
				return fmt.Errorf("epoch %d proposal: %w", i, err)
			}
			cache[string(ref)] = CachedProposal{Ref: ref, Proposal: p, Sender: sender}
		}
		m, err := UnmarshalMessage(e.Commit)
		if err != nil {
			return err
		}
		if m.Private != nil {
			return errSkip{"PrivateMessage"}
		}
		next, err := g.ProcessCommit(m, func(ref []byte) (CachedProposal, bool) {
			p, ok := cache[string(ref)]
			return p, ok
		}, psks)
		if err != nil {
			return fmt.Errorf("epoch %d commit: %w", i, err)
		}
		g = next
		if !bytes.Equal(g.EpochAuthenticator(), e.EpochAuthenticator) {
			return fmt.Errorf("epoch %d: authenticator %x, want %x", i, g.EpochAuthenticator(), e.EpochAuthenticator)
		}
	}
	return nil
}

func testPassive(t *testing.T, file string) {
	var cases []passiveCase
	loadVectors(t, file, &cases)
	n := 0
	for i := range cases {
		c := &cases[i]
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if err := runPassive(c); err != nil {
				var skip errSkip
				if errors.As(err, &skip) {
					t.Skip(skip.Error())
				}
				t.Fatal(err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

// TestPassiveClientWelcomeVectors checks passive-client-welcome.json.
func TestPassiveClientWelcomeVectors(t *testing.T) { testPassive(t, "passive-client-welcome.json") }

// TestPassiveClientHandlingCommitVectors checks
// passive-client-handling-commit.json.
func TestPassiveClientHandlingCommitVectors(t *testing.T) {
	testPassive(t, "passive-client-handling-commit.json")
}
