package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

var testCaps = Capabilities{Versions: []uint16{1}, CipherSuites: []uint16{2}, Credentials: []uint16{1}}

type testMember struct {
	name    string
	kp      *KeyPackage
	secrets KeyPackageSecrets
	g       *Group
}

func newTestMember(t testing.TB, name string) *testMember {
	t.Helper()
	sig, err := GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, secrets, err := NewKeyPackage([]byte(name), sig, testCaps, 0, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.Verify(); err != nil {
		t.Fatal(err)
	}
	return &testMember{name: name, kp: kp, secrets: secrets}
}

type testExternal struct {
	key SignaturePrivateKey
	ext []Extension
}

func newTestExternal(t testing.TB) *testExternal {
	k, err := GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	es := ExternalSender{SignatureKey: k.Public(), Credential: Credential{Type: CredentialBasic, Identity: []byte("gateway")}}
	return &testExternal{key: k, ext: []Extension{{Type: ExtExternalSenders, Data: MarshalExternalSenders([]ExternalSender{es})}}}
}

// propose signs an external proposal, sends it through the wire encoding
// and has g validate it.
func (e *testExternal) propose(t testing.TB, g *Group, p *Proposal) CachedProposal {
	t.Helper()
	m, err := SignExternalProposal(e.key, 0, g.GroupID(), g.Epoch(), p)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := UnmarshalMessage(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	ref, prop, sender, err := g.ValidateProposal(wire)
	if err != nil {
		t.Fatal(err)
	}
	return CachedProposal{Ref: ref, Proposal: prop, Sender: sender}
}

func sameEpoch(t *testing.T, members ...*testMember) {
	t.Helper()
	for _, m := range members[1:] {
		a, b := members[0].g, m.g
		if a.Epoch() != b.Epoch() || !bytes.Equal(a.EpochAuthenticator(), b.EpochAuthenticator()) ||
			!bytes.Equal(a.Export("x", []byte("y"), 16), b.Export("x", []byte("y"), 16)) {
			t.Fatalf("%s and %s disagree at epochs %d/%d", members[0].name, m.name, a.Epoch(), b.Epoch())
		}
	}
}

// follow has every member in ms process the commit (after a wire round
// trip), with proposals looked up in props.
func follow(t *testing.T, pc *PendingCommit, props []CachedProposal, ms ...*testMember) {
	t.Helper()
	wire, err := UnmarshalMessage(pc.Message.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		next, err := m.g.ProcessCommit(wire, func(ref []byte) (CachedProposal, bool) {
			for _, p := range props {
				if bytes.Equal(p.Ref, ref) {
					return p, true
				}
			}
			return CachedProposal{}, false
		}, nil)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		m.g = next
	}
}

func join(t testing.TB, w *Welcome, m *testMember) {
	t.Helper()
	wire, err := UnmarshalWelcome(w.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	g, err := JoinWelcome(wire, m.kp, m.secrets, nil, nil)
	if err != nil {
		t.Fatalf("%s joins: %v", m.name, err)
	}
	m.g = g
}

// TestGroupLifecycle runs a DAVE-shaped history among our own members:
// external Adds committed without a path and with Welcomes, external
// Removes committed with a path, several members per commit, and checks
// that everybody agrees on every epoch.
func TestGroupLifecycle(t *testing.T) {
	ext := newTestExternal(t)
	a := newTestMember(t, "alice")
	var err error
	if a.g, err = CreateGroup([]byte("channel1"), a.kp, a.secrets, ext.ext); err != nil {
		t.Fatal(err)
	}

	// Epoch 0 -> 1: alice adds bob.
	b := newTestMember(t, "bob")
	props := []CachedProposal{ext.propose(t, a.g, &Proposal{Type: ProposalAdd, Add: b.kp})}
	pc, err := a.g.Commit(props, false)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Message.Public.Content.Commit.Path != nil || pc.Welcome == nil {
		t.Fatal("add-only commit should carry no path and a welcome")
	}
	a.g = pc.Next
	join(t, pc.Welcome, b)
	sameEpoch(t, a, b)

	// Epoch 1 -> 2: bob adds carol and dave in one commit.
	c, d := newTestMember(t, "carol"), newTestMember(t, "dave")
	props = []CachedProposal{
		ext.propose(t, b.g, &Proposal{Type: ProposalAdd, Add: c.kp}),
		ext.propose(t, b.g, &Proposal{Type: ProposalAdd, Add: d.kp}),
	}
	pc, err = b.g.Commit(props, false)
	if err != nil {
		t.Fatal(err)
	}
	b.g = pc.Next
	follow(t, pc, props, a)
	join(t, pc.Welcome, c)
	join(t, pc.Welcome, d)
	sameEpoch(t, a, b, c, d)

	// Epoch 2 -> 3: carol removes bob (path required) and adds erin.
	e := newTestMember(t, "erin")
	props = []CachedProposal{
		ext.propose(t, c.g, &Proposal{Type: ProposalRemove, Remove: b.g.OwnLeaf()}),
		ext.propose(t, c.g, &Proposal{Type: ProposalAdd, Add: e.kp}),
	}
	pc, err = c.g.Commit(props, false)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Message.Public.Content.Commit.Path == nil {
		t.Fatal("commit with a remove has no path")
	}
	c.g = pc.Next
	follow(t, pc, props, a, d)
	join(t, pc.Welcome, e)
	sameEpoch(t, a, c, d, e)
	if e.g.OwnLeaf() != 1 {
		t.Fatalf("erin got leaf %d, want the freed leaf 1", e.g.OwnLeaf())
	}
	// bob learns he was removed.
	wire, _ := UnmarshalMessage(pc.Message.Marshal())
	if _, err := b.g.ProcessCommit(wire, func(ref []byte) (CachedProposal, bool) {
		for _, p := range props {
			if bytes.Equal(p.Ref, ref) {
				return p, true
			}
		}
		return CachedProposal{}, false
	}, nil); !errors.Is(err, ErrRemoved) {
		t.Fatalf("removed member: %v", err)
	}

	// Epochs 3 -> 6: everyone but alice is removed one at a time by
	// different committers; the tree truncates.
	for _, step := range []struct {
		committer, victim *testMember
		rest              []*testMember
	}{
		{a, d, []*testMember{c, e}},
		{e, c, []*testMember{a}},
		{a, e, nil},
	} {
		props = []CachedProposal{ext.propose(t, step.committer.g, &Proposal{Type: ProposalRemove, Remove: step.victim.g.OwnLeaf()})}
		pc, err = step.committer.g.Commit(props, false)
		if err != nil {
			t.Fatal(err)
		}
		step.committer.g = pc.Next
		follow(t, pc, props, step.rest...)
		sameEpoch(t, append([]*testMember{step.committer}, step.rest...)...)
	}
	if n := a.g.Tree().NumLeaves(); n != 1 {
		t.Fatalf("alice alone in a tree of %d leaves", n)
	}
	if a.g.Epoch() != 6 {
		t.Fatalf("epoch %d", a.g.Epoch())
	}
}

// TestCommitRejections checks that tampered commits are refused with the
// right error.
func TestCommitRejections(t *testing.T) {
	ext := newTestExternal(t)
	a, b, c := newTestMember(t, "a"), newTestMember(t, "b"), newTestMember(t, "c")
	a.g, _ = CreateGroup([]byte("g"), a.kp, a.secrets, ext.ext)
	props := []CachedProposal{
		ext.propose(t, a.g, &Proposal{Type: ProposalAdd, Add: b.kp}),
		ext.propose(t, a.g, &Proposal{Type: ProposalAdd, Add: c.kp}),
	}
	pc, err := a.g.Commit(props, false)
	if err != nil {
		t.Fatal(err)
	}
	a.g = pc.Next
	join(t, pc.Welcome, b)
	join(t, pc.Welcome, c)

	props = []CachedProposal{ext.propose(t, a.g, &Proposal{Type: ProposalRemove, Remove: c.g.OwnLeaf()})}
	pc, err = a.g.Commit(props, false)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(ref []byte) (CachedProposal, bool) {
		if bytes.Equal(ref, props[0].Ref) {
			return props[0], true
		}
		return CachedProposal{}, false
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *PublicMessage)
		want   error
	}{
		{"membership tag", func(m *PublicMessage) { m.MembershipTag[0] ^= 1 }, ErrMembershipTag},
		{"confirmation tag", func(m *PublicMessage) { m.ConfirmationTag[0] ^= 1 }, ErrMembershipTag},
		{"epoch", func(m *PublicMessage) { m.Content.Epoch++ }, ErrWrongGroup},
		{"unknown ref", func(m *PublicMessage) { m.Content.Commit.Proposals[0].Ref = []byte("nope") }, ErrMembershipTag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire, _ := UnmarshalMessage(pc.Message.Marshal())
			tc.mutate(wire.Public)
			if _, err := b.g.ProcessCommit(wire, lookup, nil); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A commit with a valid membership tag but a wrong confirmation tag:
	// re-tag after tampering.
	wire, _ := UnmarshalMessage(pc.Message.Marshal())
	wire.Public.ConfirmationTag[0] ^= 1
	wire.Public.MembershipTag = mac(a.g.secrets.membership, membershipInput(wire.Public, &a.g.ctx))
	if _, err := b.g.ProcessCommit(wire, lookup, nil); !errors.Is(err, ErrConfirmationTag) {
		t.Fatalf("tampered confirmation tag: %v", err)
	}
	// The untouched commit works, and a path secret for another key fails.
	wire, _ = UnmarshalMessage(pc.Message.Marshal())
	if _, err := b.g.ProcessCommit(wire, lookup, nil); err != nil {
		t.Fatal(err)
	}
	_ = fmt.Sprint()
}

// BenchmarkCommitRemove measures one member committing a Remove (with an
// UpdatePath) in a group of 16, and another member processing it.
func BenchmarkCommitRemove(b *testing.B) {
	t := b
	ext := newTestExternal(t)
	members := []*testMember{newTestMember(t, "m0")}
	members[0].g, _ = CreateGroup([]byte("bench"), members[0].kp, members[0].secrets, ext.ext)
	var props []CachedProposal
	for i := 1; i < 16; i++ {
		m := newTestMember(t, fmt.Sprint("m", i))
		members = append(members, m)
		props = append(props, ext.propose(t, members[0].g, &Proposal{Type: ProposalAdd, Add: m.kp}))
	}
	pc, err := members[0].g.Commit(props, false)
	if err != nil {
		b.Fatal(err)
	}
	members[0].g = pc.Next
	join(t, pc.Welcome, members[5])
	rm := []CachedProposal{ext.propose(t, members[0].g, &Proposal{Type: ProposalRemove, Remove: 3})}
	lookup := func([]byte) (CachedProposal, bool) { return rm[0], true }
	b.ReportAllocs()
	for b.Loop() {
		pc, err := members[0].g.Commit(rm, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := members[5].g.ProcessCommit(pc.Message, lookup, nil); err != nil {
			b.Fatal(err)
		}
	}
}
