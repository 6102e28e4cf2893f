package mls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// Ciphersuite 2, MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (RFC 9420 §17.1),
// is the only one implemented: DAVE v1 uses nothing else.
const (
	ProtocolVersion = 1 // mls10
	CipherSuite     = 2

	hashSize  = sha256.Size // Nh
	aeadKey   = 16          // Nk of AES-128-GCM
	aeadNonce = 12          // Nn
)

var (
	kem  = hpke.DHKEM(ecdh.P256())
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES128GCM()
)

// labelPrefix is prepended to every label (RFC 9420 §5.1.2 ff.).
const labelPrefix = "MLS 1.0 "

func hash(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// RefHash computes a KeyPackageRef or ProposalRef (RFC 9420 §5.2).
func RefHash(label string, value []byte) []byte {
	return hash(encode(func(w *writer) {
		w.opaque([]byte(label))
		w.opaque(value)
	}))
}

// extract is KDF.Extract(salt, ikm).
func extract(salt, ikm []byte) []byte {
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic(err) // only fails for FIPS-mode key length policy
	}
	return prk
}

// ExpandWithLabel is RFC 9420 §8's ExpandWithLabel.
func ExpandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	info := encode(func(w *writer) {
		w.u16(uint16(length))
		w.opaque([]byte(labelPrefix + label))
		w.opaque(context)
	})
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		panic(err) // only for lengths above 255*Nh, which no caller asks
	}
	return out
}

// DeriveSecret is ExpandWithLabel(secret, label, "", Nh).
func DeriveSecret(secret []byte, label string) []byte {
	return ExpandWithLabel(secret, label, nil, hashSize)
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, uint32(generation), length).
func DeriveTreeSecret(secret []byte, label string, generation uint32, length int) []byte {
	return ExpandWithLabel(secret, label, binary.BigEndian.AppendUint32(nil, generation), length)
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func macEqual(key, msg, tag []byte) bool {
	return subtle.ConstantTimeCompare(mac(key, msg), tag) == 1
}

// SignaturePrivateKey is an ECDSA P-256 key; its wire form is the 32-byte
// scalar, its public key's the 65-byte uncompressed point (RFC 9420 §5.1.1).
type SignaturePrivateKey struct{ k *ecdsa.PrivateKey }

// GenerateSignatureKey returns a fresh signature key.
func GenerateSignatureKey() (SignaturePrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return SignaturePrivateKey{k}, err
}

// ParseSignaturePrivateKey reads a 32-byte P-256 scalar.
func ParseSignaturePrivateKey(b []byte) (SignaturePrivateKey, error) {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
	if err != nil {
		return SignaturePrivateKey{}, fmt.Errorf("%w: signature private key: %v", ErrMalformed, err)
	}
	return SignaturePrivateKey{k}, nil
}

// Public returns the 65-byte uncompressed public key.
func (k SignaturePrivateKey) Public() []byte {
	b, err := k.k.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

func signContent(label string, content []byte) []byte {
	return encode(func(w *writer) {
		w.opaque([]byte(labelPrefix + label))
		w.opaque(content)
	})
}

// SignWithLabel signs SignContent{label, content} (RFC 9420 §5.1.2) with
// ECDSA-SHA256, DER-encoded.
func SignWithLabel(k SignaturePrivateKey, label string, content []byte) ([]byte, error) {
	digest := sha256.Sum256(signContent(label, content))
	return ecdsa.SignASN1(rand.Reader, k.k, digest[:])
}

// VerifyWithLabel checks a signature made by SignWithLabel.
func VerifyWithLabel(pub []byte, label string, content, sig []byte) error {
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return fmt.Errorf("%w: signature key: %v", ErrSignature, err)
	}
	digest := sha256.Sum256(signContent(label, content))
	if !ecdsa.VerifyASN1(k, digest[:], sig) {
		return fmt.Errorf("%w: %s", ErrSignature, label)
	}
	return nil
}

// HPKEPrivateKey is a DHKEM(P-256) private key.
type HPKEPrivateKey = hpke.PrivateKey

// GenerateHPKEKey returns a fresh HPKE key pair.
func GenerateHPKEKey() (HPKEPrivateKey, error) { return kem.GenerateKey() }

// ParseHPKEPrivateKey reads a 32-byte serialised private key.
func ParseHPKEPrivateKey(b []byte) (HPKEPrivateKey, error) {
	k, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE private key: %v", ErrMalformed, err)
	}
	return k, nil
}

// DeriveKeyPair derives the node key pair of a node secret (RFC 9420 §7.4).
func DeriveKeyPair(secret []byte) HPKEPrivateKey {
	k, err := kem.DeriveKeyPair(secret)
	if err != nil {
		panic(err) // DeriveKeyPair fails only with negligible probability
	}
	return k
}

func encryptContext(label string, context []byte) []byte {
	return encode(func(w *writer) {
		w.opaque([]byte(labelPrefix + label))
		w.opaque(context)
	})
}

// EncryptWithLabel is RFC 9420 §5.1.3's EncryptWithLabel.
func EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (HPKECiphertext, error) {
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return HPKECiphertext{}, fmt.Errorf("%w: HPKE public key: %v", ErrMalformed, err)
	}
	enc, s, err := hpke.NewSender(pk, kdf, aead, encryptContext(label, context))
	if err != nil {
		return HPKECiphertext{}, err
	}
	ct, err := s.Seal(nil, plaintext)
	if err != nil {
		return HPKECiphertext{}, err
	}
	return HPKECiphertext{KEMOutput: enc, Ciphertext: ct}, nil
}

// DecryptWithLabel opens what EncryptWithLabel sealed.
func DecryptWithLabel(priv HPKEPrivateKey, label string, context []byte, ct HPKECiphertext) ([]byte, error) {
	r, err := hpke.NewRecipient(ct.KEMOutput, priv, kdf, aead, encryptContext(label, context))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDecrypt, label, err)
	}
	pt, err := r.Open(nil, ct.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDecrypt, label, err)
	}
	return pt, nil
}

func publicKeyBytes(k HPKEPrivateKey) []byte { return k.PublicKey().Bytes() }

func aeadSeal(key, nonce, plaintext []byte) []byte {
	c, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(c)
	return g.Seal(nil, nonce, plaintext, nil)
}

func aeadOpen(key, nonce, ciphertext []byte) ([]byte, error) {
	c, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(c)
	pt, err := g.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return pt, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
