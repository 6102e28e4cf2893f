package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// Node is one node of a ratchet tree (RFC 9420 §7.1); a nil *Node is blank.
// Exactly one of Leaf and Parent is set.
type Node struct {
	Leaf   *LeafNode
	Parent *ParentNode
}

// Node types in the ratchet_tree encoding (§12.4.3.3).
const (
	nodeTypeLeaf   = 1
	nodeTypeParent = 2
)

// Tree is a ratchet tree: nodes in array order, always full (a power of two
// leaves, §7.7), trailing blank leaves allowed. LeafNodes are never mutated
// once in a tree; ParentNodes are replaced or cloned before a change, so a
// clone shares nothing that a later change would alter.
type Tree struct {
	nodes []*Node
}

// NumLeaves returns the leaf count, blank leaves included.
func (t *Tree) NumLeaves() uint32 { return uint32(len(t.nodes)+1) / 2 }

func (t *Tree) node(x uint32) *Node {
	if int(x) >= len(t.nodes) {
		return nil
	}
	return t.nodes[x]
}

// Leaf returns leaf i, or nil when it is blank or out of range.
func (t *Tree) Leaf(i uint32) *LeafNode {
	if n := t.node(leafNode(i)); n != nil {
		return n.Leaf
	}
	return nil
}

func (t *Tree) parentNode(x uint32) *ParentNode {
	if n := t.node(x); n != nil {
		return n.Parent
	}
	return nil
}

func (t *Tree) clone() *Tree {
	c := &Tree{nodes: make([]*Node, len(t.nodes))}
	for i, n := range t.nodes {
		switch {
		case n == nil:
		case n.Parent != nil:
			c.nodes[i] = &Node{Parent: n.Parent.clone()}
		default:
			c.nodes[i] = n
		}
	}
	return c
}

// encryptionKey returns the HPKE public key of a non-blank node.
func (n *Node) encryptionKey() []byte {
	if n.Leaf != nil {
		return n.Leaf.EncryptionKey
	}
	return n.Parent.EncryptionKey
}

// parentHash returns the parent_hash a node carries ("" for leaves that
// are not from a commit).
func (n *Node) parentHash() []byte {
	if n.Leaf != nil {
		return n.Leaf.ParentHash
	}
	return n.Parent.ParentHash
}

// marshal writes the ratchet_tree extension: optional<Node> nodes<V>
// without trailing blank nodes (§12.4.3.3).
func (t *Tree) marshal(w *writer) {
	last := len(t.nodes) - 1
	for last >= 0 && t.nodes[last] == nil {
		last--
	}
	w.vector(func(w *writer) {
		for _, n := range t.nodes[:last+1] {
			w.optional(n != nil, func(w *writer) {
				if n.Leaf != nil {
					w.u8(nodeTypeLeaf)
					n.Leaf.marshal(w)
				} else {
					w.u8(nodeTypeParent)
					n.Parent.marshal(w)
				}
			})
		}
	})
}

// Marshal returns the ratchet_tree extension data.
func (t *Tree) Marshal() []byte { return encode(t.marshal) }

func (t *Tree) unmarshal(r *reader) {
	var nodes []*Node
	r.vector(func(r *reader) {
		var n *Node
		r.optional(func(r *reader) {
			switch typ := r.u8(); typ {
			case nodeTypeLeaf:
				n = &Node{Leaf: new(LeafNode)}
				n.Leaf.unmarshal(r)
			case nodeTypeParent:
				n = &Node{Parent: new(ParentNode)}
				n.Parent.unmarshal(r)
			default:
				r.fail(fmt.Errorf("%w: node type %d", ErrMalformed, typ))
			}
		})
		nodes = append(nodes, n)
	})
	if r.err != nil {
		return
	}
	if len(nodes) == 0 || nodes[len(nodes)-1] == nil {
		r.fail(fmt.Errorf("%w: empty tree or trailing blank node", ErrInvalidTree))
		return
	}
	if len(nodes)%2 == 0 {
		r.fail(fmt.Errorf("%w: tree ends with a parent node", ErrInvalidTree))
		return
	}
	for i, n := range nodes {
		if n != nil && (n.Leaf != nil) != (i%2 == 0) {
			r.fail(fmt.Errorf("%w: node %d has the wrong type", ErrInvalidTree, i))
			return
		}
	}
	// Extend to a full tree.
	leaves := uint32(1)
	for nodeWidth(leaves) < uint32(len(nodes)) {
		leaves *= 2
	}
	t.nodes = append(nodes, make([]*Node, int(nodeWidth(leaves))-len(nodes))...)
}

// UnmarshalTree decodes ratchet_tree extension data.
func UnmarshalTree(b []byte) (*Tree, error) {
	t := new(Tree)
	return t, decode(b, t.unmarshal)
}

// resolution of node x (§4.1.1): the non-blank nodes covering x's subtree,
// a non-blank node followed by its unmerged leaves.
func (t *Tree) resolution(x uint32) []uint32 {
	n := t.node(x)
	switch {
	case n == nil && level(x) == 0:
		return nil
	case n == nil:
		return append(t.resolution(left(x)), t.resolution(right(x))...)
	case n.Leaf != nil:
		return []uint32{x}
	default:
		res := []uint32{x}
		for _, u := range n.Parent.UnmergedLeaves {
			res = append(res, leafNode(u))
		}
		return res
	}
}

// pathStep is one node of a filtered direct path and its copath child.
type pathStep struct {
	node, copath uint32
}

// filteredDirectPath of a leaf (§4.1.2): its direct path without the nodes
// whose copath child has an empty resolution.
func (t *Tree) filteredDirectPath(leaf uint32) []pathStep {
	var steps []pathStep
	x := leafNode(leaf)
	r := root(t.NumLeaves())
	for x != r {
		s, p := sibling(x), parent(x)
		if len(t.resolution(s)) > 0 {
			steps = append(steps, pathStep{node: p, copath: s})
		}
		x = p
	}
	return steps
}

// TreeHash returns the tree hash of the whole tree (§7.8).
func (t *Tree) TreeHash() []byte { return t.treeHash(root(t.NumLeaves()), nil) }

// treeHash of the subtree under x, as if the leaves in excluded were blank
// (for the original sibling tree hash of §7.9).
func (t *Tree) treeHash(x uint32, excluded []uint32) []byte {
	n := t.node(x)
	return hash(encode(func(w *writer) {
		if level(x) == 0 {
			w.u8(nodeTypeLeaf)
			w.u32(x / 2)
			w.optional(n != nil && !slices.Contains(excluded, x/2), func(w *writer) { n.Leaf.marshal(w) })
			return
		}
		w.u8(nodeTypeParent)
		w.optional(n != nil, func(w *writer) {
			p := *n.Parent
			if len(excluded) > 0 {
				p.UnmergedLeaves = slices.DeleteFunc(slices.Clone(p.UnmergedLeaves),
					func(u uint32) bool { return slices.Contains(excluded, u) })
			}
			p.marshal(w)
		})
		w.opaque(t.treeHash(left(x), excluded))
		w.opaque(t.treeHash(right(x), excluded))
	}))
}

// parentHashOf computes the parent hash a child of parent p carries when
// s is p's other child (§7.9).
func (t *Tree) parentHashOf(p, s uint32) []byte {
	pn := t.parentNode(p)
	return hash(encode(func(w *writer) {
		w.opaque(pn.EncryptionKey)
		w.opaque(pn.ParentHash)
		w.opaque(t.treeHash(s, pn.UnmergedLeaves))
	}))
}

// verifyParentHashes checks that every non-blank parent node is
// parent-hash valid with respect to one of its children (§7.9.2).
func (t *Tree) verifyParentHashes() error {
	for x := uint32(1); x < uint32(len(t.nodes)); x += 2 {
		p := t.parentNode(x)
		if p == nil {
			continue
		}
		if !t.parentHashValidTowards(x, left(x), right(x)) &&
			!t.parentHashValidTowards(x, right(x), left(x)) {
			return fmt.Errorf("%w: parent node %d", ErrParentHash, x)
		}
	}
	return nil
}

func (t *Tree) parentHashValidTowards(p, c, s uint32) bool {
	ph := t.parentHashOf(p, s)
	res := t.resolution(c)
	var unmerged []uint32
	for _, u := range t.parentNode(p).UnmergedLeaves {
		if isInSubtree(c, leafNode(u)) {
			unmerged = append(unmerged, leafNode(u))
		}
	}
	for i, d := range res {
		if !bytes.Equal(t.node(d).parentHash(), ph) {
			continue
		}
		rest := slices.Concat(res[:i], res[i+1:])
		slices.Sort(rest)
		slices.Sort(unmerged)
		if slices.Equal(rest, unmerged) {
			return true
		}
	}
	return false
}

// verifyLeaves checks every leaf's signature and that no encryption or
// signature key appears twice (§7.3, §7.9.1).
func (t *Tree) verifyLeaves(groupID []byte) error {
	encKeys := map[string]bool{}
	sigKeys := map[string]bool{}
	for x, n := range t.nodes {
		if n == nil {
			continue
		}
		k := string(n.encryptionKey())
		if encKeys[k] {
			return fmt.Errorf("%w: encryption key of node %d appears twice", ErrInvalidTree, x)
		}
		encKeys[k] = true
		if n.Leaf == nil {
			for _, u := range n.Parent.UnmergedLeaves {
				if !isInSubtree(uint32(x), leafNode(u)) || t.Leaf(u) == nil {
					return fmt.Errorf("%w: node %d lists unmerged leaf %d", ErrInvalidTree, x, u)
				}
			}
			if !slices.IsSorted(n.Parent.UnmergedLeaves) {
				return fmt.Errorf("%w: node %d has unsorted unmerged leaves", ErrInvalidTree, x)
			}
			continue
		}
		if sigKeys[string(n.Leaf.SignatureKey)] {
			return fmt.Errorf("%w: signature key of leaf %d appears twice", ErrInvalidTree, x/2)
		}
		sigKeys[string(n.Leaf.SignatureKey)] = true
		if err := n.Leaf.Verify(groupID, uint32(x/2)); err != nil {
			return err
		}
	}
	return nil
}

// Verify validates a tree received from others (§12.4.3.1): leaf
// signatures, unique keys, parent hashes and, when want is not nil, the
// tree hash.
func (t *Tree) Verify(groupID, want []byte) error {
	if err := t.verifyLeaves(groupID); err != nil {
		return err
	}
	if err := t.verifyParentHashes(); err != nil {
		return err
	}
	if want != nil {
		if got := t.TreeHash(); !bytes.Equal(got, want) {
			return fmt.Errorf("%w: computed %x, group context says %x", ErrTreeHash, got, want)
		}
	}
	return nil
}

// addLeaf puts l into the leftmost blank leaf, extending the tree when
// none is free, and marks it unmerged along its direct path (§7.7).
func (t *Tree) addLeaf(l *LeafNode) uint32 {
	var i uint32
	for i = 0; i < t.NumLeaves(); i++ {
		if t.node(leafNode(i)) == nil {
			break
		}
	}
	if i == t.NumLeaves() {
		n := t.NumLeaves() * 2
		if len(t.nodes) == 0 {
			n = 1
		}
		t.nodes = append(t.nodes, make([]*Node, int(nodeWidth(n))-len(t.nodes))...)
	}
	t.nodes[leafNode(i)] = &Node{Leaf: l}
	for _, p := range directPath(leafNode(i), t.NumLeaves()) {
		if pn := t.parentNode(p); pn != nil {
			c := pn.clone()
			c.UnmergedLeaves = append(c.UnmergedLeaves, i)
			slices.Sort(c.UnmergedLeaves)
			t.nodes[p] = &Node{Parent: c}
		}
	}
	return i
}

// blankPath blanks the direct path of a leaf.
func (t *Tree) blankPath(leaf uint32) {
	for _, p := range directPath(leafNode(leaf), t.NumLeaves()) {
		t.nodes[p] = nil
	}
}

// removeLeaf blanks a leaf and its direct path, then truncates (§12.1.3).
func (t *Tree) removeLeaf(leaf uint32) {
	t.nodes[leafNode(leaf)] = nil
	t.blankPath(leaf)
	t.truncate()
}

// truncate drops the right half of the tree while it is entirely blank.
func (t *Tree) truncate() {
	for n := t.NumLeaves(); n > 1; n /= 2 {
		for x := nodeWidth(n / 2); x < nodeWidth(n); x++ {
			if t.nodes[x] != nil {
				return
			}
		}
		t.nodes = t.nodes[:nodeWidth(n/2)]
	}
}

// findLeaf returns the index of the leaf with the given encryption key.
func (t *Tree) findLeaf(encryptionKey []byte) (uint32, bool) {
	for i := uint32(0); i < t.NumLeaves(); i++ {
		if l := t.Leaf(i); l != nil && bytes.Equal(l.EncryptionKey, encryptionKey) {
			return i, true
		}
	}
	return 0, false
}
