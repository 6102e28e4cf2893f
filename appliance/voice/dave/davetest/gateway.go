package davetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/dave"
	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

// Peer is one client of the call as the gateway sees it: where the
// gateway's messages to that client go. Implementations must not call back
// into the Gateway from these methods (they are called with its lock
// held); queue instead.
type Peer interface {
	SendJSON(op int, d any) error
	SendBinary(op int, body []byte) error
}

// Signer is the external sender: its ExternalSender struct (op 25) and
// the signing of external Add and Remove proposals.
type Signer interface {
	ExternalSender() []byte
	// Propose signs one external proposal per spec for the group at
	// epoch and returns the MLSMessages and their ProposalRefs.
	Propose(groupID []byte, epoch uint64, specs []ProposalSpec) (msgs, refs [][]byte, err error)
}

// ProposalSpec is an Add (KeyPackage set) or a Remove (of leaf Remove).
type ProposalSpec struct {
	KeyPackage []byte
	Remove     uint32
}

// GatewayConfig configures a Gateway.
type GatewayConfig struct {
	ChannelID uint64
	Signer    Signer
	Logf      func(format string, args ...any) // nil discards
}

type proposal struct {
	ref  []byte
	user uint64 // added or removed user
	add  bool
	leaf uint32 // Remove
}

type member struct {
	peer   Peer
	kp     []byte
	leaf   uint32
	inGrp  bool
	broken bool // sent op 31: no longer follows the group
}

type heldCommit struct {
	user uint64
	body []byte
}

// Gateway plays the voice gateway's DAVE role for one channel (voice spec
// 3.5, "Gateway side"): it sends op 11/13 and the external sender (25),
// proposes Adds for new key packages and Removes for leavers (27), revokes
// Adds of users gone before a commit, accepts the first valid commit per
// epoch (only Add and Remove, only by reference, covering every
// unrevoked proposal; a Welcome when adding) and fans out op 29/30,
// collects op 23 and sends op 22, answers op 31 with Remove then re-Add,
// resets a sole remaining member (op 24 epoch 1, op 21 tid 0), and
// downgrades on request. Leaf indexes are tracked by replaying the
// accepted commits' Adds and Removes.
type Gateway struct {
	cfg     GatewayConfig
	groupID []byte

	mu        sync.Mutex
	changed   chan struct{}
	members   map[uint64]*member
	order     []uint64 // connection order
	epoch     uint64
	hasGroup  bool
	proposals []proposal
	hold      bool
	held      []heldCommit
	nextTID   uint16
	waiting   map[int]map[uint64]bool // tid -> users still to send op 23
	parties   map[int][]uint64        // tid -> users taking part
	executed  []int
	accepted  int
	rejected  []string
}

// NewGateway returns a gateway with no clients.
func NewGateway(cfg GatewayConfig) *Gateway {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Gateway{
		cfg:     cfg,
		groupID: binary.BigEndian.AppendUint64(nil, cfg.ChannelID),
		changed: make(chan struct{}),
		members: map[uint64]*member{},
		waiting: map[int]map[uint64]bool{},
		parties: map[int][]uint64{},
		nextTID: 1,
	}
}

func (g *Gateway) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Wait waits until cond (called without the lock) holds or timeout.
func (g *Gateway) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.After(timeout)
	for {
		g.mu.Lock()
		ch := g.changed
		g.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return cond()
		}
	}
}

// Epoch returns the epoch of the group the gateway tracks.
func (g *Gateway) Epoch() uint64 { g.mu.Lock(); defer g.mu.Unlock(); return g.epoch }

// Leaves returns user -> leaf for the members of the group.
func (g *Gateway) Leaves() map[uint64]uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := map[uint64]uint32{}
	for u, mb := range g.members {
		if mb.inGrp {
			m[u] = mb.leaf
		}
	}
	return m
}

// Executed returns the transition ids for which op 22 was sent.
func (g *Gateway) Executed() []int { g.mu.Lock(); defer g.mu.Unlock(); return slices.Clone(g.executed) }

// Accepted returns how many commits were accepted.
func (g *Gateway) Accepted() int { g.mu.Lock(); defer g.mu.Unlock(); return g.accepted }

// Rejected returns why commits were refused.
func (g *Gateway) Rejected() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.rejected)
}

// Held returns the users whose commits are held.
func (g *Gateway) Held() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var v []uint64
	for _, h := range g.held {
		v = append(v, h.user)
	}
	return v
}

// Pending returns how many proposals await a commit.
func (g *Gateway) Pending() int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.proposals) }

// Connect adds a client that already got op 4 with version 1: it learns
// who is here (op 11), everyone else learns of it, and it gets op 25.
func (g *Gateway) Connect(user uint64, p Peer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.members[user]; ok {
		return fmt.Errorf("davetest: user %d already connected", user)
	}
	others := []dave.Snowflake{}
	for _, u := range g.order {
		others = append(others, dave.Snowflake(u))
		_ = g.members[u].peer.SendJSON(dave.OpClientsConnect, dave.ClientsConnect{UserIDs: []dave.Snowflake{dave.Snowflake(user)}})
	}
	g.members[user] = &member{peer: p}
	g.order = append(g.order, user)
	if err := p.SendJSON(dave.OpClientsConnect, dave.ClientsConnect{UserIDs: others}); err != nil {
		return err
	}
	g.notify()
	return p.SendBinary(dave.OpMLSExternalSender, g.cfg.Signer.ExternalSender())
}

// Disconnect removes a client: others get op 13; its uncommitted Add is
// revoked, and if it was in the group it is proposed for removal, or the
// last member left is reset.
func (g *Gateway) Disconnect(user uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[user]
	if !ok {
		return fmt.Errorf("davetest: user %d not connected", user)
	}
	delete(g.members, user)
	g.order = slices.DeleteFunc(g.order, func(u uint64) bool { return u == user })
	for _, u := range g.order {
		_ = g.members[u].peer.SendJSON(dave.OpClientDisconnect, dave.ClientDisconnect{UserID: dave.Snowflake(user)})
	}
	defer g.notify()
	// Revoke what concerned it.
	var refs [][]byte
	g.proposals = slices.DeleteFunc(g.proposals, func(p proposal) bool {
		if p.user == user && p.add {
			refs = append(refs, p.ref)
			return true
		}
		return false
	})
	if len(refs) > 0 {
		g.cfg.Logf("davetest: revoking %d proposals of user %d", len(refs), user)
		if err := g.broadcastRevoke(refs); err != nil {
			return err
		}
	}
	if !m.inGrp {
		return nil
	}
	switch g.groupSize() {
	case 0:
		g.hasGroup, g.proposals = false, nil
		return nil
	case 1:
		return g.soleMemberReset()
	}
	return g.propose([]ProposalSpec{{Remove: m.leaf}}, []proposal{{user: user, leaf: m.leaf}})
}

// groupSize counts connected members of the group.
func (g *Gateway) groupSize() int {
	n := 0
	for _, m := range g.members {
		if m.inGrp {
			n++
		}
	}
	return n
}

// followers are the members that follow the group: in it and not broken.
func (g *Gateway) followers() []uint64 {
	var v []uint64
	for _, u := range g.order {
		if m := g.members[u]; m.inGrp && !m.broken {
			v = append(v, u)
		}
	}
	return v
}

// soleMemberReset: op 24 epoch 1, then op 21 with transition 0 (voice
// spec 3.5); the member builds a new group alone.
func (g *Gateway) soleMemberReset() error {
	var sole uint64
	for u, m := range g.members {
		if m.inGrp {
			sole = u
		}
	}
	g.cfg.Logf("davetest: sole member reset of user %d", sole)
	p := g.members[sole].peer
	g.proposals = nil
	g.held = nil
	g.epoch = 0
	g.members[sole].leaf = 0
	g.members[sole].kp = nil
	if err := p.SendJSON(dave.OpPrepareEpoch, dave.PrepareEpoch{ProtocolVersion: 1, Epoch: 1}); err != nil {
		return err
	}
	return p.SendJSON(dave.OpPrepareTransition, dave.PrepareTransition{TransitionID: 0, ProtocolVersion: 1})
}

// propose signs proposals and appends them to every follower.
func (g *Gateway) propose(specs []ProposalSpec, meta []proposal) error {
	msgs, refs, err := g.cfg.Signer.Propose(g.groupID, g.epoch, specs)
	if err != nil {
		return fmt.Errorf("davetest: signing proposals: %w", err)
	}
	var vec []byte
	for i, m := range msgs {
		vec = append(vec, m...)
		meta[i].ref = refs[i]
		meta[i].add = specs[i].KeyPackage != nil
		g.proposals = append(g.proposals, meta[i])
	}
	body := mls.AppendOpaque([]byte{0}, vec)
	for _, u := range g.followers() {
		if err := g.members[u].peer.SendBinary(dave.OpMLSProposals, body); err != nil {
			return err
		}
	}
	return nil
}

func (g *Gateway) broadcastRevoke(refs [][]byte) error {
	var vec []byte
	for _, r := range refs {
		vec = mls.AppendOpaque(vec, r)
	}
	body := mls.AppendOpaque([]byte{1}, vec)
	for _, u := range g.followers() {
		if err := g.members[u].peer.SendBinary(dave.OpMLSProposals, body); err != nil {
			return err
		}
	}
	return nil
}

// ClientOp handles a DAVE op from a client: 23 and 31 with their JSON
// "d", 26 and 28 with the binary body after the opcode. Other ops are
// ignored.
func (g *Gateway) ClientOp(user uint64, op int, payload []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.notify()
	m, ok := g.members[user]
	if !ok {
		return nil
	}
	switch op {
	case dave.OpMLSKeyPackage:
		return g.keyPackage(user, m, bytes.Clone(payload))
	case dave.OpMLSCommitWelcome:
		if g.hold {
			g.held = append(g.held, heldCommit{user: user, body: bytes.Clone(payload)})
			return nil
		}
		return g.commit(user, payload)
	case dave.OpTransitionReady:
		var d dave.Transition
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		return g.ready(user, d.TransitionID)
	case dave.OpMLSInvalidCommitWelcome:
		g.cfg.Logf("davetest: user %d reports an invalid commit or welcome", user)
		if !m.inGrp || m.broken {
			return nil
		}
		m.broken = true
		if len(g.followers()) == 0 {
			return g.soleMemberReset()
		}
		return g.propose([]ProposalSpec{{Remove: m.leaf}}, []proposal{{user: user, leaf: m.leaf}})
	}
	return nil
}

func (g *Gateway) keyPackage(user uint64, m *member, kp []byte) error {
	if _, err := mls.UnmarshalKeyPackage(kp); err != nil {
		return fmt.Errorf("davetest: key package of %d: %w", user, err)
	}
	m.kp = kp
	if !g.hasGroup || (g.groupSize() == 0) {
		// The first member's pending group becomes the group.
		for _, o := range g.members {
			o.inGrp = false
		}
		g.hasGroup, g.epoch = true, 0
		m.inGrp, m.leaf, m.broken = true, 0, false
		g.proposals = nil
		g.cfg.Logf("davetest: user %d creates the group", user)
		return nil
	}
	if m.inGrp && !m.broken {
		return nil // a sole member's fresh package after a reset
	}
	if len(g.followers()) == 0 {
		return nil
	}
	return g.propose([]ProposalSpec{{KeyPackage: kp}}, []proposal{{user: user}})
}

// Hold makes the gateway keep commits instead of judging them, until
// Release; this lets a test revoke proposals while commits are in flight.
func (g *Gateway) Hold() { g.mu.Lock(); g.hold = true; g.mu.Unlock() }

// Release judges the held commits in arrival order, those of the users
// in prefer first.
func (g *Gateway) Release(prefer ...uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = false
	held := g.held
	g.held = nil
	slices.SortStableFunc(held, func(a, b heldCommit) int {
		pa, pb := slices.Contains(prefer, a.user), slices.Contains(prefer, b.user)
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	for _, h := range held {
		if err := g.commit(h.user, h.body); err != nil {
			g.cfg.Logf("davetest: held commit: %v", err)
		}
	}
	g.notify()
}

// commit judges op 28 and, when it is the first valid one of the epoch,
// fans it out.
func (g *Gateway) commit(user uint64, body []byte) error {
	reject := func(format string, args ...any) error {
		why := fmt.Sprintf("user %d: ", user) + fmt.Sprintf(format, args...)
		g.rejected = append(g.rejected, why)
		g.cfg.Logf("davetest: commit refused: %s", why)
		return nil
	}
	m := g.members[user]
	msg, rest, err := mls.ReadMessage(body)
	if err != nil {
		return reject("undecodable: %v", err)
	}
	pm := msg.Public
	if pm == nil || pm.Content.Commit == nil {
		return reject("not a PublicMessage commit")
	}
	c := pm.Content
	if !bytes.Equal(c.GroupID, g.groupID) || c.Epoch != g.epoch {
		return reject("epoch %d, group is at %d", c.Epoch, g.epoch)
	}
	if !m.inGrp || m.broken || c.Sender.Type != mls.SenderMember || c.Sender.Index != m.leaf {
		return reject("sender %d/%d is not its leaf %d", c.Sender.Type, c.Sender.Index, m.leaf)
	}
	if len(c.Commit.Proposals) != len(g.proposals) {
		return reject("%d proposals, %d pending", len(c.Commit.Proposals), len(g.proposals))
	}
	var ordered []proposal
	for _, por := range c.Commit.Proposals {
		i := slices.IndexFunc(g.proposals, func(p proposal) bool { return por.Ref != nil && bytes.Equal(p.ref, por.Ref) })
		if i < 0 {
			return reject("proposal not pending or by value")
		}
		ordered = append(ordered, g.proposals[i])
	}
	adds := 0
	for _, p := range ordered {
		if p.add {
			adds++
		}
	}
	var welcome []byte
	if adds > 0 {
		if len(rest) == 0 {
			return reject("adds without a welcome")
		}
		if _, err := mls.UnmarshalWelcome(rest); err != nil {
			return reject("welcome: %v", err)
		}
		welcome = rest
	} else if len(rest) > 0 {
		return reject("%d trailing bytes without adds", len(rest))
	}
	commitBytes := body[:len(body)-len(rest)]

	// Accept: replay removes, then adds into the leftmost free leaves.
	recipients := g.followers()
	used := map[uint32]bool{}
	for _, mb := range g.members {
		if mb.inGrp {
			used[mb.leaf] = true
		}
	}
	for _, p := range ordered {
		if !p.add {
			delete(used, p.leaf)
			if mb := g.members[p.user]; mb != nil && mb.inGrp && mb.leaf == p.leaf {
				mb.inGrp, mb.broken = false, false
			}
		}
	}
	var joiners []uint64
	for _, p := range ordered {
		if !p.add {
			continue
		}
		leaf := uint32(0)
		for used[leaf] {
			leaf++
		}
		used[leaf] = true
		if mb := g.members[p.user]; mb != nil {
			mb.inGrp, mb.leaf, mb.broken = true, leaf, false
			joiners = append(joiners, p.user)
		}
	}
	g.epoch++
	g.accepted++
	g.proposals = nil
	tid := int(g.nextTID)
	g.nextTID++
	if g.nextTID == 0 {
		g.nextTID = 1
	}
	wait := map[uint64]bool{}
	frame := binary.BigEndian.AppendUint16(nil, uint16(tid))
	for _, u := range recipients {
		if mb := g.members[u]; mb != nil && mb.inGrp {
			wait[u] = true
			if err := mb.peer.SendBinary(dave.OpMLSAnnounceCommitTransition, append(slices.Clip(frame), commitBytes...)); err != nil {
				return err
			}
		}
	}
	for _, u := range joiners {
		wait[u] = true
		if err := g.members[u].peer.SendBinary(dave.OpMLSWelcome, append(slices.Clip(frame), welcome...)); err != nil {
			return err
		}
	}
	g.waiting[tid] = wait
	g.parties[tid] = append(slices.Clone(recipients), joiners...)
	g.cfg.Logf("davetest: accepted commit of user %d: epoch %d, transition %d, %d joiners", user, g.epoch, tid, len(joiners))
	return nil
}

func (g *Gateway) ready(user uint64, tid int) error {
	w, ok := g.waiting[tid]
	if !ok {
		return nil
	}
	delete(w, user)
	if len(w) > 0 {
		return nil
	}
	return g.execute(tid)
}

func (g *Gateway) execute(tid int) error {
	delete(g.waiting, tid)
	g.executed = append(g.executed, tid)
	parties := g.parties[tid]
	delete(g.parties, tid)
	for _, u := range parties {
		if g.members[u] == nil {
			continue
		}
		if err := g.members[u].peer.SendJSON(dave.OpExecuteTransition, dave.Transition{TransitionID: tid}); err != nil {
			return err
		}
	}
	return nil
}

// ExecutePending sends op 22 for every transition still waiting for op
// 23 (the gateway's timeout).
func (g *Gateway) ExecutePending() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.notify()
	var errs []error
	for tid := range g.waiting {
		errs = append(errs, g.execute(tid))
	}
	return errors.Join(errs...)
}

// Downgrade prepares a transition to protocol version 0 for everyone.
func (g *Gateway) Downgrade() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.notify()
	tid := int(g.nextTID)
	g.nextTID++
	wait := map[uint64]bool{}
	for _, u := range g.order {
		wait[u] = true
		if err := g.members[u].peer.SendJSON(dave.OpPrepareTransition, dave.PrepareTransition{TransitionID: tid, ProtocolVersion: 0}); err != nil {
			return err
		}
	}
	g.waiting[tid] = wait
	g.parties[tid] = slices.Clone(g.order)
	return nil
}

// SendInvalidCommit announces a commit for the current epoch that cannot
// be valid (a real commit's bytes with its signature broken) to one user.
func (g *Gateway) SendInvalidCommit(user uint64, commit []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[user]
	if !ok {
		return fmt.Errorf("davetest: user %d not connected", user)
	}
	tid := int(g.nextTID)
	g.nextTID++
	return m.peer.SendBinary(dave.OpMLSAnnounceCommitTransition, append(binary.BigEndian.AppendUint16(nil, uint16(tid)), commit...))
}

// ForgeCommit returns a commit MLSMessage for the current epoch from the
// given leaf that no member can accept (its signature and tags are
// random).
func (g *Gateway) ForgeCommit(leaf uint32) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	pm := &mls.PublicMessage{
		Content: mls.FramedContent{
			GroupID: g.groupID, Epoch: g.epoch,
			Sender:      mls.Sender{Type: mls.SenderMember, Index: leaf},
			ContentType: mls.ContentCommit, Commit: &mls.Commit{},
		},
		Signature:       bytes.Repeat([]byte{0x30}, 70),
		ConfirmationTag: bytes.Repeat([]byte{1}, 32),
		MembershipTag:   bytes.Repeat([]byte{2}, 32),
	}
	return (&mls.Message{WireFormat: mls.WireFormatPublicMessage, Public: pm}).Marshal()
}
