package mls

import "errors"

// Decoding errors: returned when bytes from the wire are not a valid
// encoding of the structure asked for.
var (
	// ErrTruncated is returned when the input ends inside a structure.
	ErrTruncated = errors.New("mls: truncated input")
	// ErrVarint is returned for a vector length prefix that is reserved or
	// not in its shortest form.
	ErrVarint = errors.New("mls: invalid variable-length integer")
	// ErrMalformed is returned for an encoding that breaks the presentation
	// language: a bad presence byte, an unknown enum value, trailing bytes.
	ErrMalformed = errors.New("mls: malformed structure")
	// ErrUnsupported is returned for a well-formed value this subset does not
	// implement: another protocol version or ciphersuite, a credential type
	// other than basic and x509, a PrivateMessage where a PublicMessage is
	// required.
	ErrUnsupported = errors.New("mls: unsupported")
)

// Verification errors: returned when a well-formed message fails a
// cryptographic or protocol check.
var (
	// ErrSignature is returned when a signature does not verify.
	ErrSignature = errors.New("mls: invalid signature")
	// ErrDecrypt is returned when an HPKE or AEAD ciphertext does not open.
	ErrDecrypt = errors.New("mls: decryption failed")
	// ErrMembershipTag is returned when a PublicMessage's membership tag
	// does not match.
	ErrMembershipTag = errors.New("mls: invalid membership tag")
	// ErrConfirmationTag is returned when a commit's or GroupInfo's
	// confirmation tag does not match the derived epoch.
	ErrConfirmationTag = errors.New("mls: invalid confirmation tag")
	// ErrTreeHash is returned when a tree's hash differs from the one in
	// the GroupContext.
	ErrTreeHash = errors.New("mls: tree hash mismatch")
	// ErrParentHash is returned when a tree or an UpdatePath breaks the
	// parent-hash chain (RFC 9420 §7.9).
	ErrParentHash = errors.New("mls: parent hash mismatch")
	// ErrInvalidLeaf is returned for a LeafNode that fails validation
	// (RFC 9420 §7.3).
	ErrInvalidLeaf = errors.New("mls: invalid leaf node")
	// ErrInvalidTree is returned for a ratchet tree that is not well formed:
	// wrong node types, bad unmerged leaves, duplicate keys.
	ErrInvalidTree = errors.New("mls: invalid ratchet tree")
	// ErrInvalidPath is returned for an UpdatePath that does not fit the
	// tree or whose secrets do not derive the advertised keys.
	ErrInvalidPath = errors.New("mls: invalid update path")
	// ErrInvalidProposal is returned for a proposal that cannot be applied.
	ErrInvalidProposal = errors.New("mls: invalid proposal")
	// ErrInvalidCommit is returned for a commit that breaks the rules of
	// RFC 9420 §12.4 or of this subset.
	ErrInvalidCommit = errors.New("mls: invalid commit")
	// ErrWrongGroup is returned for a message for another group or epoch.
	ErrWrongGroup = errors.New("mls: message for another group or epoch")
	// ErrUnknownProposal is returned when a commit references a proposal
	// that was never received.
	ErrUnknownProposal = errors.New("mls: unknown proposal reference")
	// ErrNotInvited is returned when a Welcome holds no secrets for our key
	// package.
	ErrNotInvited = errors.New("mls: welcome is not for this key package")
)
