// Package mls is the subset of Messaging Layer Security (RFC 9420) that a
// DAVE v1 member needs, on ciphersuite 2 (DHKEM P-256, AES-128-GCM,
// SHA-256, ECDSA P-256) only, built on crypto/hpke, crypto/ecdsa and
// crypto/hkdf.
//
// # Basics
//
// A member creates a KeyPackage (NewKeyPackage), then either creates a
// one-member group at epoch 0 (CreateGroup) or joins one from a Welcome
// (JoinWelcome). In each epoch it validates proposals
// (Group.ValidateProposal, external senders included), commits cached
// proposals by reference (Group.Commit, which returns the next epoch and
// a Welcome) or follows another member's commit (Group.ProcessCommit).
// Group.Export is the MLS exporter DAVE derives its sender keys from.
//
// A Group value is immutable: every transition returns a new Group, so a
// caller keeps the current epoch until it knows which commit won. Groups
// are not safe for concurrent mutation by design because they are never
// mutated; sharing one between goroutines is fine.
//
// Everything is verified the way RFC 9420 says: leaf and GroupInfo
// signatures, unique keys, parent hashes and the tree hash of a joined
// tree; signature, membership tag, path decryption, parent hashes and
// confirmation tag of a commit. The RFC 9420 test vectors of the MLS
// working group for suite 2 pass (see the tests).
//
// # Caveats
//
// Not implemented, and rejected with ErrUnsupported where they appear:
// other ciphersuites, PrivateMessage (decoded but never opened), the
// secret tree, ReInit and ExternalInit proposals, external commits,
// committing PSKs. Update, GroupContextExtensions and PSK proposals are
// followed when others commit them (the RFC vectors use them; DAVE does
// not). Credential validity (x509 chains, lifetimes) is left to the
// caller: DAVE identities are checked by the DAVE layer.
//
// # Why a private MLS?
//
// No Go MLS library can be fetched here and the C++ one (libdave with
// mlspp) needs cgo and OpenSSL; DAVE needs a small, well-defined part of
// MLS, and every building block is in the standard library.
package mls
