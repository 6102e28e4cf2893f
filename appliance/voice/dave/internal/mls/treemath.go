package mls

// Array-based tree arithmetic (RFC 9420 §4.2 and Appendix C). Leaves sit at
// even node indexes (leaf i is node 2i), parents at odd ones; a node's level
// is the number of trailing one bits of its index.
//
//	level 2:            3
//	              ┌─────┴─────┐
//	level 1:      1           5
//	            ┌─┴─┐       ┌─┴─┐
//	level 0:    0   2       4   6      (leaves 0..3)

func log2(x uint32) uint32 {
	if x == 0 {
		return 0
	}
	k := uint32(0)
	for x>>k > 0 {
		k++
	}
	return k - 1
}

func level(x uint32) uint32 {
	if x&1 == 0 {
		return 0
	}
	k := uint32(0)
	for (x>>k)&1 == 1 {
		k++
	}
	return k
}

// nodeWidth is the number of nodes of a tree with n leaves.
func nodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

func root(n uint32) uint32 { return (1 << log2(nodeWidth(n))) - 1 }

func left(x uint32) uint32 {
	k := level(x)
	return x ^ (1 << (k - 1))
}

func right(x uint32) uint32 {
	k := level(x)
	return x ^ (3 << (k - 1))
}

func parent(x uint32) uint32 {
	k := level(x)
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1))
}

func sibling(x uint32) uint32 {
	p := parent(x)
	if x < p {
		return right(p)
	}
	return left(p)
}

// directPath lists x's ancestors from its parent up to the root of a tree
// with n leaves.
func directPath(x, n uint32) []uint32 {
	r := root(n)
	var d []uint32
	for x != r {
		x = parent(x)
		d = append(d, x)
	}
	return d
}

// isInSubtree reports whether node x lies in the subtree rooted at node a.
func isInSubtree(a, x uint32) bool {
	k := level(a)
	return level(x) <= k && x>>(k+1) == a>>(k+1)
}

func leafNode(leaf uint32) uint32 { return 2 * leaf }

// commonAncestor returns the lowest common ancestor of nodes x and y.
func commonAncestor(x, y uint32) uint32 {
	lx, ly := level(x)+1, level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	}
	if ly <= lx && x>>lx == y>>lx {
		return x
	}
	xn, yn, k := x, y, uint32(0)
	for xn != yn {
		xn >>= 1
		yn >>= 1
		k++
	}
	return (xn << k) + (1 << (k - 1)) - 1
}
