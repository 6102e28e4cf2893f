package mls

import (
	"bytes"
	"testing"
)

// TestCryptoBasicsVectors checks crypto-basics.json for ciphersuite 2.
func TestCryptoBasicsVectors(t *testing.T) {
	var cases []struct {
		CipherSuite int `json:"cipher_suite"`
		RefHash     struct {
			Label      string
			Out, Value hexBytes
		} `json:"ref_hash"`
		ExpandWithLabel struct {
			Label                string
			Length               int
			Secret, Context, Out hexBytes
		} `json:"expand_with_label"`
		DeriveSecret struct {
			Label       string
			Secret, Out hexBytes
		} `json:"derive_secret"`
		DeriveTreeSecret struct {
			Label       string
			Generation  uint32
			Length      int
			Secret, Out hexBytes
		} `json:"derive_tree_secret"`
		SignWithLabel struct {
			Label                         string
			Priv, Pub, Content, Signature hexBytes
		} `json:"sign_with_label"`
		EncryptWithLabel struct {
			Label                                     string
			Priv, Pub, Context, Plaintext, Ciphertext hexBytes
			KEMOutput                                 hexBytes `json:"kem_output"`
		} `json:"encrypt_with_label"`
	}
	loadVectors(t, "crypto-basics.json", &cases)
	n := 0
	for _, c := range cases {
		if c.CipherSuite != CipherSuite {
			continue
		}
		n++
		if got := RefHash(c.RefHash.Label, c.RefHash.Value); !bytes.Equal(got, c.RefHash.Out) {
			t.Errorf("RefHash = %x, want %x", got, c.RefHash.Out)
		}
		e := c.ExpandWithLabel
		if got := ExpandWithLabel(e.Secret, e.Label, e.Context, e.Length); !bytes.Equal(got, e.Out) {
			t.Errorf("ExpandWithLabel = %x, want %x", got, e.Out)
		}
		if got := DeriveSecret(c.DeriveSecret.Secret, c.DeriveSecret.Label); !bytes.Equal(got, c.DeriveSecret.Out) {
			t.Errorf("DeriveSecret = %x, want %x", got, c.DeriveSecret.Out)
		}
		d := c.DeriveTreeSecret
		if got := DeriveTreeSecret(d.Secret, d.Label, d.Generation, d.Length); !bytes.Equal(got, d.Out) {
			t.Errorf("DeriveTreeSecret = %x, want %x", got, d.Out)
		}
		s := c.SignWithLabel
		if err := VerifyWithLabel(s.Pub, s.Label, s.Content, s.Signature); err != nil {
			t.Errorf("VerifyWithLabel(vector signature): %v", err)
		}
		k, err := ParseSignaturePrivateKey(s.Priv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.Public(), s.Pub) {
			t.Errorf("signature public key %x, want %x", k.Public(), s.Pub)
		}
		sig, err := SignWithLabel(k, s.Label, s.Content)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyWithLabel(s.Pub, s.Label, s.Content, sig); err != nil {
			t.Errorf("VerifyWithLabel(own signature): %v", err)
		}
		if err := VerifyWithLabel(s.Pub, s.Label+"x", s.Content, sig); err == nil {
			t.Error("signature verified under another label")
		}
		h := c.EncryptWithLabel
		priv, err := ParseHPKEPrivateKey(h.Priv)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := DecryptWithLabel(priv, h.Label, h.Context, HPKECiphertext{h.KEMOutput, h.Ciphertext})
		if err != nil || !bytes.Equal(pt, h.Plaintext) {
			t.Errorf("DecryptWithLabel = %x, %v; want %x", pt, err, h.Plaintext)
		}
		ct, err := EncryptWithLabel(h.Pub, h.Label, h.Context, h.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := DecryptWithLabel(priv, h.Label, h.Context, ct); err != nil || !bytes.Equal(pt, h.Plaintext) {
			t.Errorf("round trip = %x, %v", pt, err)
		}
	}
	if n == 0 {
		t.Fatal("no ciphersuite 2 case")
	}
}

// TestDeserializationVectors checks deserialization.json: varint headers.
func TestDeserializationVectors(t *testing.T) {
	var cases []struct {
		Header hexBytes `json:"vlbytes_header"`
		Length int      `json:"length"`
	}
	loadVectors(t, "deserialization.json", &cases)
	for _, c := range cases {
		var w writer
		w.varint(c.Length)
		if !bytes.Equal(w.b, c.Header) {
			t.Errorf("varint(%d) = %x, want %x", c.Length, w.b, c.Header)
		}
		r := newReader(c.Header)
		if got := r.varint(); r.err != nil || got != c.Length {
			t.Errorf("read %x = %d, %v; want %d", c.Header, got, r.err, c.Length)
		}
	}
	for _, bad := range []string{"4000", "8000003f", "c0", "40"} {
		r := newReader(mustHex(bad))
		if r.varint(); r.err == nil {
			t.Errorf("varint %s accepted", bad)
		}
	}
}
