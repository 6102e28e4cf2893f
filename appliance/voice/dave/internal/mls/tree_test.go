package mls

import (
	"bytes"
	"errors"
	"testing"
)

// TestTreeValidationVectors checks tree-validation.json for suite 2:
// resolutions, per-node tree hashes, leaf signatures and parent hashes.
func TestTreeValidationVectors(t *testing.T) {
	var cases []struct {
		CipherSuite int        `json:"cipher_suite"`
		Tree        hexBytes   `json:"tree"`
		GroupID     hexBytes   `json:"group_id"`
		TreeHashes  []hexBytes `json:"tree_hashes"`
		Resolutions [][]uint32 `json:"resolutions"`
	}
	loadVectors(t, "tree-validation.json", &cases)
	n := 0
	for i, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		tree, err := UnmarshalTree(c.Tree)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(tree.nodes) != len(c.TreeHashes) {
			t.Fatalf("case %d: %d nodes, vector has %d", i, len(tree.nodes), len(c.TreeHashes))
		}
		for x := range tree.nodes {
			if got := tree.treeHash(uint32(x), nil); !bytes.Equal(got, c.TreeHashes[x]) {
				t.Fatalf("case %d node %d: tree hash %x, want %x", i, x, got, c.TreeHashes[x])
			}
			got := tree.resolution(uint32(x))
			if len(got) != len(c.Resolutions[x]) {
				t.Fatalf("case %d node %d: resolution %v, want %v", i, x, got, c.Resolutions[x])
			}
			for j := range got {
				if got[j] != c.Resolutions[x][j] {
					t.Fatalf("case %d node %d: resolution %v, want %v", i, x, got, c.Resolutions[x])
				}
			}
		}
		if err := tree.Verify(c.GroupID, nil); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

// TestTreeValidationRejects tampers with valid trees and expects the
// matching error: a parent key (breaks parent hashes), a leaf's signed
// content, a duplicated key.
func TestTreeValidationRejects(t *testing.T) {
	var cases []struct {
		CipherSuite int      `json:"cipher_suite"`
		Tree        hexBytes `json:"tree"`
		GroupID     hexBytes `json:"group_id"`
	}
	loadVectors(t, "tree-validation.json", &cases)
	checked := 0
	for _, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		fresh := func() *Tree {
			tree, err := UnmarshalTree(c.Tree)
			if err != nil {
				t.Fatal(err)
			}
			return tree
		}
		tree := fresh()
		want := tree.TreeHash()
		if err := tree.Verify(c.GroupID, want); err != nil {
			t.Fatal(err)
		}
		if err := tree.Verify(c.GroupID, append([]byte{1}, want[1:]...)); !errors.Is(err, ErrTreeHash) {
			t.Fatalf("wrong tree hash accepted: %v", err)
		}
		for x, n := range tree.nodes {
			if n == nil {
				continue
			}
			tree := fresh()
			n := tree.nodes[x]
			if n.Parent != nil {
				n.Parent.EncryptionKey = append([]byte(nil), n.Parent.EncryptionKey...)
				n.Parent.EncryptionKey[5] ^= 1
				if err := tree.Verify(c.GroupID, nil); !errors.Is(err, ErrParentHash) {
					t.Fatalf("tampered parent %d: %v", x, err)
				}
			} else {
				l := n.Leaf.clone()
				l.Credential.Identity = append([]byte("x"), l.Credential.Identity...)
				tree.nodes[x] = &Node{Leaf: l}
				if err := tree.Verify(c.GroupID, nil); !errors.Is(err, ErrInvalidLeaf) && !errors.Is(err, ErrParentHash) {
					t.Fatalf("tampered leaf %d: %v", x, err)
				}
			}
			checked++
		}
		if tree.NumLeaves() > 1 && tree.Leaf(0) != nil && tree.Leaf(1) != nil {
			tree := fresh()
			tree.nodes[2] = &Node{Leaf: tree.Leaf(0)}
			if err := tree.Verify(c.GroupID, nil); !errors.Is(err, ErrInvalidTree) {
				t.Fatalf("duplicate leaf: %v", err)
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing tampered")
	}
}
