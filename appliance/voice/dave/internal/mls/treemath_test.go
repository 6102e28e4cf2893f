package mls

import "testing"

// TestTreeMathVectors checks tree-math.json (RFC 9420 test vectors).
func TestTreeMathVectors(t *testing.T) {
	var cases []struct {
		NLeaves uint32    `json:"n_leaves"`
		NNodes  uint32    `json:"n_nodes"`
		Root    uint32    `json:"root"`
		Left    []*uint32 `json:"left"`
		Right   []*uint32 `json:"right"`
		Parent  []*uint32 `json:"parent"`
		Sibling []*uint32 `json:"sibling"`
	}
	loadVectors(t, "tree-math.json", &cases)
	for _, c := range cases {
		if got := nodeWidth(c.NLeaves); got != c.NNodes {
			t.Fatalf("n=%d: width %d, want %d", c.NLeaves, got, c.NNodes)
		}
		if got := root(c.NLeaves); got != c.Root {
			t.Fatalf("n=%d: root %d, want %d", c.NLeaves, got, c.Root)
		}
		r := root(c.NLeaves)
		for x := uint32(0); x < c.NNodes; x++ {
			check := func(name string, want *uint32, ok bool, got func() uint32) {
				t.Helper()
				if want == nil {
					if ok {
						t.Fatalf("n=%d x=%d: %s defined as %d, want none", c.NLeaves, x, name, got())
					}
					return
				}
				if !ok || got() != *want {
					t.Fatalf("n=%d x=%d: %s wrong, want %d", c.NLeaves, x, name, *want)
				}
			}
			check("left", c.Left[x], level(x) > 0, func() uint32 { return left(x) })
			check("right", c.Right[x], level(x) > 0, func() uint32 { return right(x) })
			check("parent", c.Parent[x], x != r, func() uint32 { return parent(x) })
			check("sibling", c.Sibling[x], x != r, func() uint32 { return sibling(x) })
		}
	}
}
