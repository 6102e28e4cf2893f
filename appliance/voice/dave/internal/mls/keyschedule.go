package mls

// The key schedule of RFC 9420 §8:
//
//	                 init_secret_[n-1]
//	                       │
//	commit_secret ──> KDF.Extract
//	                       │
//	          ExpandWithLabel(., "joiner", GroupContext_[n], Nh)
//	                       │
//	                 joiner_secret
//	                       │
//	  psk_secret ───> KDF.Extract
//	                       │
//	                       ├──> DeriveSecret(., "welcome") = welcome_secret
//	          ExpandWithLabel(., "epoch", GroupContext_[n], Nh)
//	                       │
//	                  epoch_secret ──> DeriveSecret(., <label>) = <secret>
//	                       │
//	          DeriveSecret(., "init") = init_secret_[n]

// epochSecrets holds what one epoch derives.
type epochSecrets struct {
	joiner, welcome, epoch             []byte
	senderData, encryption, exporter   []byte
	external, confirmation, membership []byte
	resumption, authenticator, init    []byte
}

// zeroSecret is the all-zero Nh-byte string used for an absent commit or
// PSK secret.
var zeroSecret = make([]byte, hashSize)

// joinerSecret derives joiner_secret from the previous init secret.
func joinerSecret(initSecret, commitSecret, context []byte) []byte {
	if commitSecret == nil {
		commitSecret = zeroSecret
	}
	return ExpandWithLabel(extract(initSecret, commitSecret), "joiner", context, hashSize)
}

// deriveEpoch derives an epoch's secrets from its joiner secret.
func deriveEpoch(joiner, pskSecret, context []byte) epochSecrets {
	if pskSecret == nil {
		pskSecret = zeroSecret
	}
	member := extract(joiner, pskSecret)
	e := ExpandWithLabel(member, "epoch", context, hashSize)
	return epochSecrets{
		joiner:        joiner,
		welcome:       DeriveSecret(member, "welcome"),
		epoch:         e,
		senderData:    DeriveSecret(e, "sender data"),
		encryption:    DeriveSecret(e, "encryption"),
		exporter:      DeriveSecret(e, "exporter"),
		external:      DeriveSecret(e, "external"),
		confirmation:  DeriveSecret(e, "confirm"),
		membership:    DeriveSecret(e, "membership"),
		resumption:    DeriveSecret(e, "resumption"),
		authenticator: DeriveSecret(e, "authentication"),
		init:          DeriveSecret(e, "init"),
	}
}

// welcomeKeyNonce derives the key and nonce that encrypt a GroupInfo
// (§12.4.3.1).
func welcomeKeyNonce(welcomeSecret []byte) (key, nonce []byte) {
	return ExpandWithLabel(welcomeSecret, "key", nil, aeadKey),
		ExpandWithLabel(welcomeSecret, "nonce", nil, aeadNonce)
}

// export is MLS-Exporter (§8.5).
func export(exporterSecret []byte, label string, context []byte, length int) []byte {
	return ExpandWithLabel(DeriveSecret(exporterSecret, label), "exported", hash(context), length)
}

// pskSecret combines pre-shared keys (§8.4); psks[i] is the secret of
// ids[i].
func pskSecret(ids []PreSharedKeyID, psks [][]byte) []byte {
	if len(ids) == 0 {
		return nil
	}
	secret := zeroSecret
	for i, id := range ids {
		extracted := extract(zeroSecret, psks[i])
		label := encode(func(w *writer) {
			id.marshal(w)
			w.u16(uint16(i))
			w.u16(uint16(len(ids)))
		})
		input := ExpandWithLabel(extracted, "derived psk", label, hashSize)
		secret = extract(input, secret)
	}
	return secret
}

// confirmedTranscriptHash is §8.2's confirmed_transcript_hash_[n].
func confirmedTranscriptHash(interim []byte, wireFormat uint16, content *FramedContent, signature []byte) []byte {
	return hash(encode(func(w *writer) {
		w.b = append(w.b, interim...)
		w.u16(wireFormat)
		content.marshal(w)
		w.opaque(signature)
	}))
}

// interimTranscriptHash is §8.2's interim_transcript_hash_[n].
func interimTranscriptHash(confirmed, confirmationTag []byte) []byte {
	return hash(encode(func(w *writer) {
		w.b = append(w.b, confirmed...)
		w.opaque(confirmationTag)
	}))
}
