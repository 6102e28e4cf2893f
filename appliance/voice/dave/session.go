package dave

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

// Config configures a Session. UserID, ChannelID and Send are required.
type Config struct {
	UserID    uint64 // our user id: member identity (8 bytes big-endian)
	ChannelID uint64 // the MLS group id (8 bytes big-endian)
	// Send writes a DAVE message to the voice gateway: JSON ops get the
	// marshalled "d" object, binary ops the body after the opcode byte.
	// It is called with the Session's lock held: it must not call back
	// into the Session.
	Send   func(op int, payload []byte, binary bool) error
	Logger *slog.Logger // nil discards
}

// MaxProtocolVersion is the highest DAVE protocol version supported, to
// be offered as Identify's max_dave_protocol_version.
const MaxProtocolVersion = 1

// capabilities of every DAVE leaf (voice spec 3.2): no GREASE, no
// extensions, basic credentials only.
var capabilities = mls.Capabilities{
	Versions:     []uint16{mls.ProtocolVersion},
	CipherSuites: []uint16{mls.CipherSuite},
	Extensions:   []uint16{},
	Proposals:    []uint16{},
	Credentials:  []uint16{mls.CredentialBasic},
}

// Session is the DAVE member of one voice connection. See the package
// documentation for its lifecycle.
type Session struct {
	cfg      Config
	log      *slog.Logger
	identity []byte
	groupID  []byte

	mu          sync.Mutex // guards the MLS state below; held during Send
	started     bool
	version     int
	sigKey      mls.SignaturePrivateKey
	extSender   []byte // op 25 body
	users       map[uint64]bool
	kp          *mls.KeyPackage
	kpSecrets   mls.KeyPackageSecrets
	group       *mls.Group // pending (epoch 0, ours alone) or established
	established bool
	proposals   []mls.CachedProposal
	pending     *mls.PendingCommit
	pendingWire []byte
	transitions map[int]int // prepared transition id -> protocol version

	txMu sync.Mutex // guards tx
	tx   *encryptor // nil: frames go out as they are

	rxMu        sync.Mutex // guards rx and passUntil
	rx          map[uint64]*receiver
	passUntil   time.Time // receive passthrough until then
	passForever bool
}

// New returns a Session that waits for Start. It starts nothing.
func New(cfg Config) (*Session, error) {
	if cfg.Send == nil {
		return nil, errors.New("dave: Config.Send is required")
	}
	if cfg.UserID == 0 || cfg.ChannelID == 0 {
		return nil, fmt.Errorf("dave: user id %d and channel id %d must both be set", cfg.UserID, cfg.ChannelID)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		return nil, err
	}
	return &Session{
		cfg:         cfg,
		log:         log.With("user", cfg.UserID, "channel", cfg.ChannelID),
		identity:    binary.BigEndian.AppendUint64(nil, cfg.UserID),
		groupID:     binary.BigEndian.AppendUint64(nil, cfg.ChannelID),
		sigKey:      sig,
		users:       map[uint64]bool{},
		transitions: map[int]int{},
		rx:          map[uint64]*receiver{},
		passForever: true,
	}, nil
}

// Start begins the session with op 4's dave_protocol_version: for 1 it
// creates a key package and sends it (op 26); for 0 frames pass through.
func (s *Session) Start(version int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version < 0 || version > MaxProtocolVersion {
		return fmt.Errorf("%w: %d", ErrVersion, version)
	}
	s.started = true
	s.version = version
	s.setReceivePassthrough(true)
	if version == 0 {
		s.dropMLS()
		return nil
	}
	return s.resetMLS()
}

// Handle processes one DAVE gateway message: JSON ops 11, 13, 21, 22 and
// 24 with their "d", binary ops 25, 27, 29 and 30 with the body after the
// server header. Unknown ops are ignored. Protocol failures that DAVE
// recovers from (an invalid commit or welcome) are answered with op 31
// and a new key package and are not errors.
func (s *Session) Handle(op int, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpClientsConnect:
		var d ClientsConnect
		if err := decodeJSON(op, payload, &d); err != nil {
			return err
		}
		for _, u := range d.UserIDs {
			s.users[uint64(u)] = true
		}
		return nil
	case OpClientDisconnect:
		var d ClientDisconnect
		if err := decodeJSON(op, payload, &d); err != nil {
			return err
		}
		delete(s.users, uint64(d.UserID))
		return nil
	case OpMLSExternalSender:
		return s.handleExternalSender(payload)
	}
	if !s.started {
		return fmt.Errorf("%w: op %d", ErrNotStarted, op)
	}
	switch op {
	case OpPrepareTransition:
		var d PrepareTransition
		if err := decodeJSON(op, payload, &d); err != nil {
			return err
		}
		return s.prepareTransition(d.TransitionID, d.ProtocolVersion)
	case OpExecuteTransition:
		var d Transition
		if err := decodeJSON(op, payload, &d); err != nil {
			return err
		}
		if _, ok := s.transitions[d.TransitionID]; !ok {
			// Not ours to execute (we were not part of it, or already
			// recovered from it): nothing changes.
			s.log.Warn("dave: execute of an unprepared transition ignored", "transition", d.TransitionID)
			return nil
		}
		return s.execute(d.TransitionID)
	case OpPrepareEpoch:
		var d PrepareEpoch
		if err := decodeJSON(op, payload, &d); err != nil {
			return err
		}
		if d.ProtocolVersion < 0 || d.ProtocolVersion > MaxProtocolVersion {
			return fmt.Errorf("%w: op 24 version %d", ErrVersion, d.ProtocolVersion)
		}
		if d.Epoch == 1 {
			s.version = d.ProtocolVersion
			return s.resetMLS()
		}
		return nil
	case OpMLSProposals:
		return s.handleProposals(payload)
	case OpMLSAnnounceCommitTransition:
		return s.handleCommit(payload)
	case OpMLSWelcome:
		return s.handleWelcome(payload)
	}
	return nil
}

func (s *Session) send(op int, payload []byte, binary bool) error {
	if err := s.cfg.Send(op, payload, binary); err != nil {
		return fmt.Errorf("dave: send op %d: %w", op, err)
	}
	return nil
}

func (s *Session) sendJSON(op int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.send(op, b, false)
}

// dropMLS forgets all MLS state.
func (s *Session) dropMLS() {
	s.group, s.established = nil, false
	s.kp = nil
	s.proposals, s.pending, s.pendingWire = nil, nil, nil
}

// resetMLS throws the MLS state away, makes a new key package, creates
// the pending group if the external sender is known and sends op 26.
func (s *Session) resetMLS() error {
	s.dropMLS()
	kp, secrets, err := mls.NewKeyPackage(s.identity, s.sigKey, capabilities, 0, ^uint64(0))
	if err != nil {
		return err
	}
	s.kp, s.kpSecrets = kp, secrets
	if err := s.createPendingGroup(); err != nil {
		return err
	}
	return s.send(OpMLSKeyPackage, kp.Marshal(), true)
}

// createPendingGroup creates our epoch-0 group once the key package and
// the external sender are both known (voice spec 3.3).
func (s *Session) createPendingGroup() error {
	if s.kp == nil || s.extSender == nil || s.group != nil {
		return nil
	}
	ext := []mls.Extension{{Type: mls.ExtExternalSenders, Data: mls.AppendOpaque(nil, s.extSender)}}
	g, err := mls.CreateGroup(s.groupID, s.kp, s.kpSecrets, ext)
	if err != nil {
		return err
	}
	s.group = g
	return nil
}

func (s *Session) handleExternalSender(body []byte) error {
	if _, err := mls.UnmarshalExternalSender(body); err != nil {
		return fmt.Errorf("%w: op 25: %w", ErrPayload, err)
	}
	if s.established {
		if bytes.Equal(body, s.extSender) {
			return nil
		}
		return ErrExternalSender
	}
	s.extSender = bytes.Clone(body)
	s.group = nil // a pending group with another sender is void
	s.proposals, s.pending, s.pendingWire = nil, nil, nil
	if !s.started || s.version == 0 {
		return nil
	}
	return s.createPendingGroup()
}

// handleProposals follows op 27 (voice spec 3.3, 3.4):
//
//	+--------+-----------------------------------------------------+
//	| op (1) | append: proposal_messages<V> (MLSMessage ...)       |
//	|        | revoke: proposal_refs<V>     (opaque ref<V> ...)    |
//	+--------+-----------------------------------------------------+
func (s *Session) handleProposals(body []byte) error {
	if len(body) < 1 {
		return fmt.Errorf("%w: empty op 27", ErrPayload)
	}
	vec, rest, err := mls.ReadOpaque(body[1:])
	if err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: op 27 vector: %v (%d trailing bytes)", ErrPayload, err, len(rest))
	}
	if s.group == nil {
		s.log.Debug("dave: proposals before the group exists, ignored")
		return nil
	}
	switch body[0] {
	case proposalsAppend:
		var added []mls.CachedProposal
		for len(vec) > 0 {
			var msg *mls.Message
			if msg, vec, err = mls.ReadMessage(vec); err != nil {
				return fmt.Errorf("%w: op 27 message: %w", ErrPayload, err)
			}
			p, err := s.checkProposal(msg)
			if err != nil {
				return err
			}
			added = append(added, p)
		}
		for _, p := range added {
			if !slices.ContainsFunc(s.proposals, func(q mls.CachedProposal) bool { return bytes.Equal(q.Ref, p.Ref) }) {
				s.proposals = append(s.proposals, p)
			}
		}
	case proposalsRevoke:
		for len(vec) > 0 {
			var ref []byte
			if ref, vec, err = mls.ReadOpaque(vec); err != nil {
				return fmt.Errorf("%w: op 27 revoke: %w", ErrPayload, err)
			}
			i := slices.IndexFunc(s.proposals, func(q mls.CachedProposal) bool { return bytes.Equal(q.Ref, ref) })
			if i < 0 {
				return fmt.Errorf("%w: revoke of unknown proposal %x", ErrProposal, ref)
			}
			s.proposals = slices.Delete(s.proposals, i, i+1)
		}
	default:
		return fmt.Errorf("%w: op 27 operation %d", ErrPayload, body[0])
	}
	if len(s.proposals) == 0 {
		s.pending, s.pendingWire = nil, nil
		return nil
	}
	return s.commit()
}

// checkProposal applies the DAVE rules to one external proposal.
func (s *Session) checkProposal(msg *mls.Message) (mls.CachedProposal, error) {
	ref, p, sender, err := s.group.ValidateProposal(msg)
	if err != nil {
		return mls.CachedProposal{}, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	if sender.Type != mls.SenderExternal || sender.Index != 0 {
		return mls.CachedProposal{}, fmt.Errorf("%w: sender type %d index %d is not the external sender", ErrProposal, sender.Type, sender.Index)
	}
	if p.Type == mls.ProposalAdd {
		id := p.Add.Leaf.Credential.Identity
		if p.Add.Leaf.Credential.Type != mls.CredentialBasic || len(id) != 8 {
			return mls.CachedProposal{}, fmt.Errorf("%w: add of a non-DAVE credential", ErrProposal)
		}
		if u := binary.BigEndian.Uint64(id); u != s.cfg.UserID && !s.users[u] {
			return mls.CachedProposal{}, fmt.Errorf("%w: add of unknown user %d", ErrProposal, u)
		}
	}
	return mls.CachedProposal{Ref: ref, Proposal: p, Sender: sender}, nil
}

// commit commits every cached proposal by reference and sends op 28:
// the commit MLSMessage, then the bare Welcome if members are added.
func (s *Session) commit() error {
	for _, p := range s.proposals {
		if p.Proposal.Type == mls.ProposalRemove && p.Proposal.Remove == s.group.OwnLeaf() {
			// MLS forbids committing our own removal: another member
			// will, and the commit tells us we are out.
			s.log.Debug("dave: proposals remove us, leaving the commit to others")
			s.pending, s.pendingWire = nil, nil
			return nil
		}
	}
	pc, err := s.group.Commit(s.proposals, false)
	if err != nil {
		return fmt.Errorf("dave: commit: %w", err)
	}
	s.pending = pc
	s.pendingWire = pc.Message.Marshal()
	out := s.pendingWire
	if pc.Welcome != nil {
		out = append(slices.Clip(out), pc.Welcome.Marshal()...)
	}
	return s.send(OpMLSCommitWelcome, out, true)
}

// handleCommit follows op 29 (voice spec 3.5).
func (s *Session) handleCommit(body []byte) error {
	tid, raw, err := splitTransition(OpMLSAnnounceCommitTransition, body)
	if err != nil {
		return err
	}
	if s.group == nil {
		s.log.Debug("dave: commit without a group, ignored", "transition", tid)
		return nil
	}
	var next *mls.Group
	switch {
	case s.pending != nil && bytes.Equal(raw, s.pendingWire):
		next = s.pending.Next
	case !s.established:
		s.log.Debug("dave: foreign commit while pending, ignored", "transition", tid)
		return nil
	default:
		next, err = s.processCommit(raw)
		if errors.Is(err, mls.ErrRemoved) {
			s.log.Info("dave: removed from the group, sending a new key package")
			return s.resetMLS()
		}
		if err != nil {
			return s.recover(tid, "commit", err)
		}
	}
	if err := s.adopt(next); err != nil {
		return s.recover(tid, "commit", err)
	}
	return s.transitionReady(tid)
}

func (s *Session) processCommit(raw []byte) (*mls.Group, error) {
	msg, err := mls.UnmarshalMessage(raw)
	if err != nil {
		return nil, err
	}
	if msg.Public == nil || msg.Public.Content.Commit == nil {
		return nil, fmt.Errorf("%w: not a PublicMessage commit", mls.ErrInvalidCommit)
	}
	for _, p := range msg.Public.Content.Commit.Proposals {
		if p.Ref == nil {
			return nil, fmt.Errorf("%w: proposal by value", mls.ErrInvalidCommit)
		}
	}
	return s.group.ProcessCommit(msg, func(ref []byte) (mls.CachedProposal, bool) {
		i := slices.IndexFunc(s.proposals, func(q mls.CachedProposal) bool { return bytes.Equal(q.Ref, ref) })
		if i < 0 {
			return mls.CachedProposal{}, false
		}
		return s.proposals[i], true
	}, nil)
}

// handleWelcome follows op 30 (voice spec 3.5).
func (s *Session) handleWelcome(body []byte) error {
	tid, raw, err := splitTransition(OpMLSWelcome, body)
	if err != nil {
		return err
	}
	if s.kp == nil {
		s.log.Debug("dave: welcome without a key package, ignored", "transition", tid)
		return nil
	}
	w, err := mls.UnmarshalWelcome(raw)
	if err != nil {
		return s.recover(tid, "welcome", err)
	}
	g, err := mls.JoinWelcome(w, s.kp, s.kpSecrets, nil, nil)
	if errors.Is(err, mls.ErrNotInvited) && s.established {
		s.log.Warn("dave: welcome for another key package ignored", "transition", tid)
		return nil
	}
	if err != nil {
		return s.recover(tid, "welcome", err)
	}
	senders, err := g.ExternalSenders()
	if err != nil || len(senders) != 1 || (s.extSender != nil && !bytes.Equal(senders[0].Marshal(), s.extSender)) {
		return s.recover(tid, "welcome", fmt.Errorf("%w: group has %d external senders, not the one of op 25", ErrExternalSender, len(senders)))
	}
	if s.extSender == nil {
		s.extSender = senders[0].Marshal()
	}
	if err := s.adopt(g); err != nil {
		return s.recover(tid, "welcome", err)
	}
	return s.transitionReady(tid)
}

// adopt makes g the established group after the DAVE checks, and
// installs every other member's receive ratchet of the new epoch.
func (s *Session) adopt(g *mls.Group) error {
	seen := map[uint64]bool{}
	for _, m := range g.Members() {
		if len(m.Identity) != 8 {
			return fmt.Errorf("%w: leaf %d has a %d-byte identity", mls.ErrInvalidLeaf, m.Leaf, len(m.Identity))
		}
		u := binary.BigEndian.Uint64(m.Identity)
		if seen[u] {
			return fmt.Errorf("%w: user %d holds two leaves", mls.ErrInvalidTree, u)
		}
		seen[u] = true
	}
	s.group, s.established = g, true
	s.proposals, s.pending, s.pendingWire = nil, nil, nil

	now := time.Now()
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	for u := range seen {
		if u == s.cfg.UserID {
			continue
		}
		r := s.rx[u]
		if r == nil {
			r = &receiver{}
			s.rx[u] = r
		}
		r.add(senderBase(g, u), now)
	}
	for u, r := range s.rx {
		if !seen[u] {
			r.retire(now)
		}
	}
	return nil
}

// recover answers an invalid commit or welcome: op 31, then a fresh key
// package (voice spec 3.5).
func (s *Session) recover(tid int, what string, cause error) error {
	s.log.Warn("dave: invalid "+what+", asking to be re-added", "transition", tid, "err", cause)
	if err := s.sendJSON(OpMLSInvalidCommitWelcome, Transition{TransitionID: tid}); err != nil {
		return err
	}
	return s.resetMLS()
}

// transitionReady prepares transition tid to our current version and
// answers op 23, or executes it at once when tid is 0.
func (s *Session) transitionReady(tid int) error {
	s.transitions[tid] = s.version
	if tid == 0 {
		return s.execute(0)
	}
	return s.sendJSON(OpTransitionReady, Transition{TransitionID: tid})
}

func (s *Session) prepareTransition(tid, version int) error {
	if version < 0 || version > MaxProtocolVersion {
		return fmt.Errorf("%w: op 21 version %d", ErrVersion, version)
	}
	if version == 0 {
		s.setReceivePassthrough(true)
	}
	s.transitions[tid] = version
	if tid == 0 {
		return s.execute(0)
	}
	return s.sendJSON(OpTransitionReady, Transition{TransitionID: tid})
}

// execute switches the sender to the prepared transition's state: the
// current group's ratchet with the counter restarted, or passthrough.
func (s *Session) execute(tid int) error {
	version, ok := s.transitions[tid]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownTransition, tid)
	}
	delete(s.transitions, tid)
	s.version = version
	if version == 0 {
		s.setSender(nil)
		s.dropMLS()
		now := time.Now()
		s.rxMu.Lock()
		for _, r := range s.rx {
			r.retire(now)
		}
		s.rxMu.Unlock()
		return nil
	}
	if s.group == nil {
		return fmt.Errorf("%w: transition %d to version %d without a group", ErrUnknownTransition, tid, version)
	}
	s.setSender(newEncryptor(senderBase(s.group, s.cfg.UserID)))
	s.setReceivePassthrough(false)
	return nil
}

func (s *Session) setSender(e *encryptor) {
	s.txMu.Lock()
	s.tx = e
	s.txMu.Unlock()
}

// setReceivePassthrough turns receive passthrough on, or off after the
// retention window.
func (s *Session) setReceivePassthrough(on bool) {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	if on {
		s.passForever = true
		return
	}
	if s.passForever {
		s.passForever = false
		s.passUntil = time.Now().Add(retention)
	}
}

// EncryptOpus appends to dst what goes into the RTP payload for one Opus
// frame: a DAVE frame once a transition to version 1 executed, else the
// frame as is. The silence frame F8 FF FE always goes out as is. It does
// not allocate when dst has len(opus)+16 bytes of spare capacity.
func (s *Session) EncryptOpus(dst, opus []byte) ([]byte, error) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if s.tx == nil || isSilence(opus) {
		return append(dst, opus...), nil
	}
	return s.tx.seal(dst, opus), nil
}

// Decrypt appends to dst the Opus frame of a DAVE frame received from
// userID. The silence frame, and frames without the DAVE marker while
// receive passthrough is open, are passed through unchanged.
func (s *Session) Decrypt(userID uint64, dst, frame []byte) ([]byte, error) {
	if isSilence(frame) {
		return append(dst, frame...), nil
	}
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	now := time.Now()
	pass := s.passForever || now.Before(s.passUntil)
	r := s.rx[userID]
	if !hasMarker(frame) || r == nil {
		if pass {
			return append(dst, frame...), nil
		}
		if r == nil && hasMarker(frame) {
			return dst, fmt.Errorf("%w: user %d", ErrNoKey, userID)
		}
		return dst, ErrPlaintext
	}
	out, err := r.open(dst, frame, now)
	if err != nil && pass {
		return append(dst, frame...), nil
	}
	return out, err
}

// Status is a snapshot of a Session for logs and tests.
type Status struct {
	ProtocolVersion int
	Established     bool   // joined or committed into a group
	Epoch           uint64 // MLS epoch of the group, pending or established
	Members         []uint64
	Encrypting      bool // a transition to version 1 executed
	// Authenticator is the epoch authenticator (RFC 9420 §8.7) that
	// members of one epoch share; DAVE derives its privacy code from it.
	Authenticator []byte
}

// Status returns a snapshot of the session.
func (s *Session) Status() Status {
	s.mu.Lock()
	st := Status{ProtocolVersion: s.version, Established: s.established}
	if s.group != nil {
		st.Epoch = s.group.Epoch()
		st.Authenticator = s.group.EpochAuthenticator()
		for _, m := range s.group.Members() {
			if len(m.Identity) == 8 {
				st.Members = append(st.Members, binary.BigEndian.Uint64(m.Identity))
			}
		}
	}
	s.mu.Unlock()
	s.txMu.Lock()
	st.Encrypting = s.tx != nil
	s.txMu.Unlock()
	return st
}
