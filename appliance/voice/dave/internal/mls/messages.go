package mls

import "fmt"

// Wire types of RFC 9420, each with marshal (append to a writer) and
// unmarshal (consume from a reader). Field names follow the RFC's structs;
// the section of each is named above it.

// Credential types (§5.3).
const (
	CredentialBasic = 1
	CredentialX509  = 2
)

// Credential (§5.3). Only basic credentials are used by DAVE; x509 is
// parsed so that messages carrying it decode.
type Credential struct {
	Type         uint16
	Identity     []byte   // basic
	Certificates [][]byte // x509
}

func (c *Credential) marshal(w *writer) {
	w.u16(c.Type)
	switch c.Type {
	case CredentialBasic:
		w.opaque(c.Identity)
	case CredentialX509:
		w.vector(func(w *writer) {
			for _, cert := range c.Certificates {
				w.opaque(cert)
			}
		})
	}
}

func (c *Credential) unmarshal(r *reader) {
	c.Type = r.u16()
	switch c.Type {
	case CredentialBasic:
		c.Identity = r.opaque()
	case CredentialX509:
		r.vector(func(r *reader) { c.Certificates = append(c.Certificates, r.opaque()) })
	default:
		r.fail(fmt.Errorf("%w: credential type %d", ErrUnsupported, c.Type))
	}
}

// Capabilities (§7.2).
type Capabilities struct {
	Versions, CipherSuites, Extensions, Proposals, Credentials []uint16
}

func (c *Capabilities) marshal(w *writer) {
	w.u16s(c.Versions)
	w.u16s(c.CipherSuites)
	w.u16s(c.Extensions)
	w.u16s(c.Proposals)
	w.u16s(c.Credentials)
}

func (c *Capabilities) unmarshal(r *reader) {
	c.Versions = r.u16s()
	c.CipherSuites = r.u16s()
	c.Extensions = r.u16s()
	c.Proposals = r.u16s()
	c.Credentials = r.u16s()
}

// Extension types (§17.3).
const (
	ExtApplicationID   = 1
	ExtRatchetTree     = 2
	ExtRequiredCaps    = 3
	ExtExternalPub     = 4
	ExtExternalSenders = 5
)

// Extension (§13).
type Extension struct {
	Type uint16
	Data []byte
}

func marshalExtensions(w *writer, exts []Extension) {
	w.vector(func(w *writer) {
		for _, e := range exts {
			w.u16(e.Type)
			w.opaque(e.Data)
		}
	})
}

func unmarshalExtensions(r *reader) []Extension {
	var exts []Extension
	r.vector(func(r *reader) {
		e := Extension{Type: r.u16(), Data: r.opaque()}
		for _, prev := range exts {
			if prev.Type == e.Type {
				r.fail(fmt.Errorf("%w: extension %d appears twice", ErrMalformed, e.Type))
			}
		}
		exts = append(exts, e)
	})
	return exts
}

func findExtension(exts []Extension, typ uint16) (Extension, bool) {
	for _, e := range exts {
		if e.Type == typ {
			return e, true
		}
	}
	return Extension{}, false
}

// Leaf node sources (§7.2).
const (
	SourceKeyPackage = 1
	SourceUpdate     = 2
	SourceCommit     = 3
)

// LeafNode (§7.2).
type LeafNode struct {
	EncryptionKey []byte
	SignatureKey  []byte
	Credential    Credential
	Capabilities  Capabilities
	Source        uint8
	NotBefore     uint64 // SourceKeyPackage
	NotAfter      uint64 // SourceKeyPackage
	ParentHash    []byte // SourceCommit
	Extensions    []Extension
	Signature     []byte
}

func (l *LeafNode) marshalContent(w *writer) {
	w.opaque(l.EncryptionKey)
	w.opaque(l.SignatureKey)
	l.Credential.marshal(w)
	l.Capabilities.marshal(w)
	w.u8(l.Source)
	switch l.Source {
	case SourceKeyPackage:
		w.u64(l.NotBefore)
		w.u64(l.NotAfter)
	case SourceCommit:
		w.opaque(l.ParentHash)
	}
	marshalExtensions(w, l.Extensions)
}

func (l *LeafNode) marshal(w *writer) {
	l.marshalContent(w)
	w.opaque(l.Signature)
}

func (l *LeafNode) unmarshal(r *reader) {
	l.EncryptionKey = r.opaque()
	l.SignatureKey = r.opaque()
	l.Credential.unmarshal(r)
	l.Capabilities.unmarshal(r)
	l.Source = r.u8()
	switch l.Source {
	case SourceKeyPackage:
		l.NotBefore = r.u64()
		l.NotAfter = r.u64()
	case SourceUpdate:
	case SourceCommit:
		l.ParentHash = r.opaque()
	default:
		r.fail(fmt.Errorf("%w: leaf node source %d", ErrMalformed, l.Source))
	}
	l.Extensions = unmarshalExtensions(r)
	l.Signature = r.opaque()
}

// tbs is LeafNodeTBS: the content, then group_id and leaf_index for leaves
// not from a key package.
func (l *LeafNode) tbs(groupID []byte, leaf uint32) []byte {
	return encode(func(w *writer) {
		l.marshalContent(w)
		if l.Source != SourceKeyPackage {
			w.opaque(groupID)
			w.u32(leaf)
		}
	})
}

// Sign sets the signature of l.
func (l *LeafNode) Sign(k SignaturePrivateKey, groupID []byte, leaf uint32) error {
	sig, err := SignWithLabel(k, "LeafNodeTBS", l.tbs(groupID, leaf))
	l.Signature = sig
	return err
}

// Verify checks the signature of l.
func (l *LeafNode) Verify(groupID []byte, leaf uint32) error {
	if err := VerifyWithLabel(l.SignatureKey, "LeafNodeTBS", l.tbs(groupID, leaf), l.Signature); err != nil {
		return fmt.Errorf("%w: leaf %d: %w", ErrInvalidLeaf, leaf, err)
	}
	return nil
}

func (l *LeafNode) clone() *LeafNode {
	c := *l
	return &c
}

// KeyPackage (§10).
type KeyPackage struct {
	Version     uint16
	CipherSuite uint16
	InitKey     []byte
	Leaf        LeafNode
	Extensions  []Extension
	Signature   []byte
}

func (k *KeyPackage) marshalTBS(w *writer) {
	w.u16(k.Version)
	w.u16(k.CipherSuite)
	w.opaque(k.InitKey)
	k.Leaf.marshal(w)
	marshalExtensions(w, k.Extensions)
}

func (k *KeyPackage) marshal(w *writer) {
	k.marshalTBS(w)
	w.opaque(k.Signature)
}

func (k *KeyPackage) unmarshal(r *reader) {
	k.Version = r.u16()
	k.CipherSuite = r.u16()
	k.InitKey = r.opaque()
	k.Leaf.unmarshal(r)
	k.Extensions = unmarshalExtensions(r)
	k.Signature = r.opaque()
}

// Marshal returns the bare KeyPackage encoding (DAVE op 26).
func (k *KeyPackage) Marshal() []byte { return encode(k.marshal) }

// UnmarshalKeyPackage decodes a bare KeyPackage.
func UnmarshalKeyPackage(b []byte) (*KeyPackage, error) {
	k := new(KeyPackage)
	return k, decode(b, k.unmarshal)
}

// Ref is the KeyPackageRef (§5.2).
func (k *KeyPackage) Ref() []byte {
	return RefHash("MLS 1.0 KeyPackage Reference", k.Marshal())
}

// Verify checks a key package's version, suite and both signatures
// (§10.1). Lifetimes are not checked: DAVE key packages live forever.
func (k *KeyPackage) Verify() error {
	if k.Version != ProtocolVersion || k.CipherSuite != CipherSuite {
		return fmt.Errorf("%w: key package version %d suite %d", ErrUnsupported, k.Version, k.CipherSuite)
	}
	if k.Leaf.Source != SourceKeyPackage {
		return fmt.Errorf("%w: key package leaf source %d", ErrInvalidLeaf, k.Leaf.Source)
	}
	if err := k.Leaf.Verify(nil, 0); err != nil {
		return err
	}
	if string(k.InitKey) == string(k.Leaf.EncryptionKey) {
		return fmt.Errorf("%w: init key equals encryption key", ErrInvalidLeaf)
	}
	return VerifyWithLabel(k.Leaf.SignatureKey, "KeyPackageTBS", encode(k.marshalTBS), k.Signature)
}

// ParentNode (§7.1).
type ParentNode struct {
	EncryptionKey  []byte
	ParentHash     []byte
	UnmergedLeaves []uint32
}

func (p *ParentNode) marshal(w *writer) {
	w.opaque(p.EncryptionKey)
	w.opaque(p.ParentHash)
	w.u32s(p.UnmergedLeaves)
}

func (p *ParentNode) unmarshal(r *reader) {
	p.EncryptionKey = r.opaque()
	p.ParentHash = r.opaque()
	p.UnmergedLeaves = r.u32s()
}

func (p *ParentNode) clone() *ParentNode {
	c := *p
	c.UnmergedLeaves = append([]uint32(nil), p.UnmergedLeaves...)
	return &c
}

// HPKECiphertext (§5.1.3).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) marshal(w *writer) {
	w.opaque(c.KEMOutput)
	w.opaque(c.Ciphertext)
}

func (c *HPKECiphertext) unmarshal(r *reader) {
	c.KEMOutput = r.opaque()
	c.Ciphertext = r.opaque()
}

// UpdatePathNode and UpdatePath (§7.6).
type UpdatePathNode struct {
	EncryptionKey []byte
	Secrets       []HPKECiphertext
}

type UpdatePath struct {
	Leaf  LeafNode
	Nodes []UpdatePathNode
}

func (p *UpdatePath) marshal(w *writer) {
	p.Leaf.marshal(w)
	w.vector(func(w *writer) {
		for _, n := range p.Nodes {
			w.opaque(n.EncryptionKey)
			w.vector(func(w *writer) {
				for _, s := range n.Secrets {
					s.marshal(w)
				}
			})
		}
	})
}

func (p *UpdatePath) unmarshal(r *reader) {
	p.Leaf.unmarshal(r)
	r.vector(func(r *reader) {
		var n UpdatePathNode
		n.EncryptionKey = r.opaque()
		r.vector(func(r *reader) {
			var s HPKECiphertext
			s.unmarshal(r)
			n.Secrets = append(n.Secrets, s)
		})
		p.Nodes = append(p.Nodes, n)
	})
}

// Proposal types (§17.4).
const (
	ProposalAdd                    = 1
	ProposalUpdate                 = 2
	ProposalRemove                 = 3
	ProposalPSK                    = 4
	ProposalReInit                 = 5
	ProposalExternalInit           = 6
	ProposalGroupContextExtensions = 7
)

// PSK types (§8.4).
const (
	PSKExternal   = 1
	PSKResumption = 2
)

// PreSharedKeyID (§8.4).
type PreSharedKeyID struct {
	Type    uint8
	ID      []byte // external
	Usage   uint8  // resumption
	GroupID []byte // resumption
	Epoch   uint64 // resumption
	Nonce   []byte
}

func (p *PreSharedKeyID) marshal(w *writer) {
	w.u8(p.Type)
	switch p.Type {
	case PSKExternal:
		w.opaque(p.ID)
	case PSKResumption:
		w.u8(p.Usage)
		w.opaque(p.GroupID)
		w.u64(p.Epoch)
	}
	w.opaque(p.Nonce)
}

func (p *PreSharedKeyID) unmarshal(r *reader) {
	p.Type = r.u8()
	switch p.Type {
	case PSKExternal:
		p.ID = r.opaque()
	case PSKResumption:
		p.Usage = r.u8()
		p.GroupID = r.opaque()
		p.Epoch = r.u64()
	default:
		r.fail(fmt.Errorf("%w: PSK type %d", ErrMalformed, p.Type))
	}
	p.Nonce = r.opaque()
}

// ReInit (§12.1.5).
type ReInit struct {
	GroupID     []byte
	Version     uint16
	CipherSuite uint16
	Extensions  []Extension
}

// Proposal (§12.1). The field that matters depends on Type.
type Proposal struct {
	Type       uint16
	Add        *KeyPackage     // ProposalAdd
	Update     *LeafNode       // ProposalUpdate
	Remove     uint32          // ProposalRemove: the removed leaf index
	PSK        *PreSharedKeyID // ProposalPSK
	ReInit     *ReInit         // ProposalReInit
	KEMOutput  []byte          // ProposalExternalInit
	Extensions []Extension     // ProposalGroupContextExtensions
}

func (p *Proposal) marshal(w *writer) {
	w.u16(p.Type)
	switch p.Type {
	case ProposalAdd:
		p.Add.marshal(w)
	case ProposalUpdate:
		p.Update.marshal(w)
	case ProposalRemove:
		w.u32(p.Remove)
	case ProposalPSK:
		p.PSK.marshal(w)
	case ProposalReInit:
		w.opaque(p.ReInit.GroupID)
		w.u16(p.ReInit.Version)
		w.u16(p.ReInit.CipherSuite)
		marshalExtensions(w, p.ReInit.Extensions)
	case ProposalExternalInit:
		w.opaque(p.KEMOutput)
	case ProposalGroupContextExtensions:
		marshalExtensions(w, p.Extensions)
	}
}

func (p *Proposal) unmarshal(r *reader) {
	p.Type = r.u16()
	switch p.Type {
	case ProposalAdd:
		p.Add = new(KeyPackage)
		p.Add.unmarshal(r)
	case ProposalUpdate:
		p.Update = new(LeafNode)
		p.Update.unmarshal(r)
	case ProposalRemove:
		p.Remove = r.u32()
	case ProposalPSK:
		p.PSK = new(PreSharedKeyID)
		p.PSK.unmarshal(r)
	case ProposalReInit:
		p.ReInit = &ReInit{GroupID: r.opaque(), Version: r.u16(), CipherSuite: r.u16()}
		p.ReInit.Extensions = unmarshalExtensions(r)
	case ProposalExternalInit:
		p.KEMOutput = r.opaque()
	case ProposalGroupContextExtensions:
		p.Extensions = unmarshalExtensions(r)
	default:
		r.fail(fmt.Errorf("%w: proposal type %d", ErrUnsupported, p.Type))
	}
}

// ProposalOrRef (§12.4): exactly one of Proposal and Ref is set.
type ProposalOrRef struct {
	Proposal *Proposal
	Ref      []byte
}

// Commit (§12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) marshal(w *writer) {
	w.vector(func(w *writer) {
		for _, p := range c.Proposals {
			if p.Proposal != nil {
				w.u8(1)
				p.Proposal.marshal(w)
			} else {
				w.u8(2)
				w.opaque(p.Ref)
			}
		}
	})
	w.optional(c.Path != nil, func(w *writer) { c.Path.marshal(w) })
}

func (c *Commit) unmarshal(r *reader) {
	r.vector(func(r *reader) {
		var p ProposalOrRef
		switch t := r.u8(); t {
		case 1:
			p.Proposal = new(Proposal)
			p.Proposal.unmarshal(r)
		case 2:
			p.Ref = r.opaque()
		default:
			r.fail(fmt.Errorf("%w: ProposalOrRef type %d", ErrMalformed, t))
		}
		c.Proposals = append(c.Proposals, p)
	})
	var path UpdatePath
	if r.optional(path.unmarshal) {
		c.Path = &path
	}
}

// Sender types (§6).
const (
	SenderMember            = 1
	SenderExternal          = 2
	SenderNewMemberProposal = 3
	SenderNewMemberCommit   = 4
)

// Sender (§6). Index is the leaf index of a member or the index into
// external_senders of an external sender.
type Sender struct {
	Type  uint8
	Index uint32
}

func (s *Sender) marshal(w *writer) {
	w.u8(s.Type)
	if s.Type == SenderMember || s.Type == SenderExternal {
		w.u32(s.Index)
	}
}

func (s *Sender) unmarshal(r *reader) {
	s.Type = r.u8()
	switch s.Type {
	case SenderMember, SenderExternal:
		s.Index = r.u32()
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		r.fail(fmt.Errorf("%w: sender type %d", ErrMalformed, s.Type))
	}
}

// Content types (§6).
const (
	ContentApplication = 1
	ContentProposal    = 2
	ContentCommit      = 3
)

// FramedContent (§6).
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       uint8
	Application       []byte    // ContentApplication
	Proposal          *Proposal // ContentProposal
	Commit            *Commit   // ContentCommit
}

func (c *FramedContent) marshal(w *writer) {
	w.opaque(c.GroupID)
	w.u64(c.Epoch)
	c.Sender.marshal(w)
	w.opaque(c.AuthenticatedData)
	w.u8(c.ContentType)
	switch c.ContentType {
	case ContentApplication:
		w.opaque(c.Application)
	case ContentProposal:
		c.Proposal.marshal(w)
	case ContentCommit:
		c.Commit.marshal(w)
	}
}

func (c *FramedContent) unmarshal(r *reader) {
	c.GroupID = r.opaque()
	c.Epoch = r.u64()
	c.Sender.unmarshal(r)
	c.AuthenticatedData = r.opaque()
	c.ContentType = r.u8()
	switch c.ContentType {
	case ContentApplication:
		c.Application = r.opaque()
	case ContentProposal:
		c.Proposal = new(Proposal)
		c.Proposal.unmarshal(r)
	case ContentCommit:
		c.Commit = new(Commit)
		c.Commit.unmarshal(r)
	default:
		r.fail(fmt.Errorf("%w: content type %d", ErrMalformed, c.ContentType))
	}
}

// Wire formats (§6).
const (
	WireFormatPublicMessage  = 1
	WireFormatPrivateMessage = 2
	WireFormatWelcome        = 3
	WireFormatGroupInfo      = 4
	WireFormatKeyPackage     = 5
)

// PublicMessage (§6.2): FramedContent, FramedContentAuthData and, for
// member senders, the membership tag.
type PublicMessage struct {
	Content         FramedContent
	Signature       []byte
	ConfirmationTag []byte // commits only
	MembershipTag   []byte // member senders only
}

func (m *PublicMessage) marshalAuth(w *writer) {
	w.opaque(m.Signature)
	if m.Content.ContentType == ContentCommit {
		w.opaque(m.ConfirmationTag)
	}
}

func (m *PublicMessage) marshal(w *writer) {
	m.Content.marshal(w)
	m.marshalAuth(w)
	if m.Content.Sender.Type == SenderMember {
		w.opaque(m.MembershipTag)
	}
}

func (m *PublicMessage) unmarshal(r *reader) {
	m.Content.unmarshal(r)
	m.Signature = r.opaque()
	if m.Content.ContentType == ContentCommit {
		m.ConfirmationTag = r.opaque()
	}
	if m.Content.Sender.Type == SenderMember {
		m.MembershipTag = r.opaque()
	}
}

// PrivateMessage (§6.3). Only decoded: DAVE never sends or opens one.
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         uint8
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

func (m *PrivateMessage) marshal(w *writer) {
	w.opaque(m.GroupID)
	w.u64(m.Epoch)
	w.u8(m.ContentType)
	w.opaque(m.AuthenticatedData)
	w.opaque(m.EncryptedSenderData)
	w.opaque(m.Ciphertext)
}

func (m *PrivateMessage) unmarshal(r *reader) {
	m.GroupID = r.opaque()
	m.Epoch = r.u64()
	m.ContentType = r.u8()
	m.AuthenticatedData = r.opaque()
	m.EncryptedSenderData = r.opaque()
	m.Ciphertext = r.opaque()
}

// EncryptedGroupSecrets and Welcome (§12.4.3.1).
type EncryptedGroupSecrets struct {
	NewMember []byte // KeyPackageRef
	Secrets   HPKECiphertext
}

type Welcome struct {
	CipherSuite        uint16
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (m *Welcome) marshal(w *writer) {
	w.u16(m.CipherSuite)
	w.vector(func(w *writer) {
		for _, s := range m.Secrets {
			w.opaque(s.NewMember)
			s.Secrets.marshal(w)
		}
	})
	w.opaque(m.EncryptedGroupInfo)
}

func (m *Welcome) unmarshal(r *reader) {
	m.CipherSuite = r.u16()
	r.vector(func(r *reader) {
		var s EncryptedGroupSecrets
		s.NewMember = r.opaque()
		s.Secrets.unmarshal(r)
		m.Secrets = append(m.Secrets, s)
	})
	m.EncryptedGroupInfo = r.opaque()
}

// Marshal returns the bare Welcome encoding (DAVE ops 28 and 30).
func (m *Welcome) Marshal() []byte { return encode(m.marshal) }

// UnmarshalWelcome decodes a bare Welcome.
func UnmarshalWelcome(b []byte) (*Welcome, error) {
	m := new(Welcome)
	return m, decode(b, m.unmarshal)
}

// GroupSecrets (§12.4.3.1). PathSecret is nil when absent.
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   []byte
	PSKs         []PreSharedKeyID
}

func (g *GroupSecrets) marshal(w *writer) {
	w.opaque(g.JoinerSecret)
	w.optional(g.PathSecret != nil, func(w *writer) { w.opaque(g.PathSecret) })
	w.vector(func(w *writer) {
		for _, p := range g.PSKs {
			p.marshal(w)
		}
	})
}

func (g *GroupSecrets) unmarshal(r *reader) {
	g.JoinerSecret = r.opaque()
	r.optional(func(r *reader) {
		g.PathSecret = r.opaque()
		if g.PathSecret == nil {
			g.PathSecret = []byte{}
		}
	})
	r.vector(func(r *reader) {
		var p PreSharedKeyID
		p.unmarshal(r)
		g.PSKs = append(g.PSKs, p)
	})
}

// GroupContext (§8.1).
type GroupContext struct {
	Version                 uint16
	CipherSuite             uint16
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              []Extension
}

func (g *GroupContext) marshal(w *writer) {
	w.u16(g.Version)
	w.u16(g.CipherSuite)
	w.opaque(g.GroupID)
	w.u64(g.Epoch)
	w.opaque(g.TreeHash)
	w.opaque(g.ConfirmedTranscriptHash)
	marshalExtensions(w, g.Extensions)
}

func (g *GroupContext) unmarshal(r *reader) {
	g.Version = r.u16()
	g.CipherSuite = r.u16()
	g.GroupID = r.opaque()
	g.Epoch = r.u64()
	g.TreeHash = r.opaque()
	g.ConfirmedTranscriptHash = r.opaque()
	g.Extensions = unmarshalExtensions(r)
}

// Marshal returns the GroupContext encoding.
func (g *GroupContext) Marshal() []byte { return encode(g.marshal) }

// GroupInfo (§12.4.3).
type GroupInfo struct {
	Context         GroupContext
	Extensions      []Extension
	ConfirmationTag []byte
	Signer          uint32
	Signature       []byte
}

func (g *GroupInfo) marshalTBS(w *writer) {
	g.Context.marshal(w)
	marshalExtensions(w, g.Extensions)
	w.opaque(g.ConfirmationTag)
	w.u32(g.Signer)
}

func (g *GroupInfo) marshal(w *writer) {
	g.marshalTBS(w)
	w.opaque(g.Signature)
}

func (g *GroupInfo) unmarshal(r *reader) {
	g.Context.unmarshal(r)
	g.Extensions = unmarshalExtensions(r)
	g.ConfirmationTag = r.opaque()
	g.Signer = r.u32()
	g.Signature = r.opaque()
}

// ExternalSender (§12.1.8.1): DAVE op 25's body.
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

func (e *ExternalSender) marshal(w *writer) {
	w.opaque(e.SignatureKey)
	e.Credential.marshal(w)
}

func (e *ExternalSender) unmarshal(r *reader) {
	e.SignatureKey = r.opaque()
	e.Credential.unmarshal(r)
}

// Marshal returns the ExternalSender encoding.
func (e *ExternalSender) Marshal() []byte { return encode(e.marshal) }

// UnmarshalExternalSender decodes DAVE op 25's body.
func UnmarshalExternalSender(b []byte) (*ExternalSender, error) {
	e := new(ExternalSender)
	return e, decode(b, e.unmarshal)
}

// MarshalExternalSenders returns the external_senders extension data: a
// vector of ExternalSender.
func MarshalExternalSenders(senders []ExternalSender) []byte {
	return encode(func(w *writer) {
		w.vector(func(w *writer) {
			for _, s := range senders {
				s.marshal(w)
			}
		})
	})
}

// UnmarshalExternalSenders decodes the external_senders extension data.
func UnmarshalExternalSenders(b []byte) ([]ExternalSender, error) {
	var v []ExternalSender
	err := decode(b, func(r *reader) {
		r.vector(func(r *reader) {
			var s ExternalSender
			s.unmarshal(r)
			v = append(v, s)
		})
	})
	return v, err
}

// Message is MLSMessage (§6): a version, a wire format and one body.
type Message struct {
	WireFormat uint16
	Public     *PublicMessage
	Private    *PrivateMessage
	Welcome    *Welcome
	GroupInfo  *GroupInfo
	KeyPackage *KeyPackage
}

func (m *Message) marshal(w *writer) {
	w.u16(ProtocolVersion)
	w.u16(m.WireFormat)
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.Public.marshal(w)
	case WireFormatPrivateMessage:
		m.Private.marshal(w)
	case WireFormatWelcome:
		m.Welcome.marshal(w)
	case WireFormatGroupInfo:
		m.GroupInfo.marshal(w)
	case WireFormatKeyPackage:
		m.KeyPackage.marshal(w)
	}
}

func (m *Message) unmarshal(r *reader) {
	if v := r.u16(); v != ProtocolVersion && r.err == nil {
		r.fail(fmt.Errorf("%w: protocol version %d", ErrUnsupported, v))
		return
	}
	m.WireFormat = r.u16()
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.Public = new(PublicMessage)
		m.Public.unmarshal(r)
	case WireFormatPrivateMessage:
		m.Private = new(PrivateMessage)
		m.Private.unmarshal(r)
	case WireFormatWelcome:
		m.Welcome = new(Welcome)
		m.Welcome.unmarshal(r)
	case WireFormatGroupInfo:
		m.GroupInfo = new(GroupInfo)
		m.GroupInfo.unmarshal(r)
	case WireFormatKeyPackage:
		m.KeyPackage = new(KeyPackage)
		m.KeyPackage.unmarshal(r)
	default:
		r.fail(fmt.Errorf("%w: wire format %d", ErrMalformed, m.WireFormat))
	}
}

// Marshal returns the MLSMessage encoding.
func (m *Message) Marshal() []byte { return encode(m.marshal) }

// UnmarshalMessage decodes exactly one MLSMessage.
func UnmarshalMessage(b []byte) (*Message, error) {
	m := new(Message)
	return m, decode(b, m.unmarshal)
}

// ReadMessage decodes one MLSMessage from the front of b and returns the
// rest (DAVE op 28 concatenates a commit and a Welcome).
func ReadMessage(b []byte) (*Message, []byte, error) {
	m := new(Message)
	r := newReader(b)
	m.unmarshal(r)
	return m, r.b, r.err
}
