package mls

import (
	"bytes"
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
