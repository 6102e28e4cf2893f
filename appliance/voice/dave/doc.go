// Package dave is the member side of DAVE v1, Discord's end-to-end
// encryption of voice (voice spec §3): the MLS group of a voice channel,
// the gateway opcodes that drive it, the per-sender key ratchets and the
// media frame encryption of Opus.
//
// # Basics
//
// A voice connection builds one Session per fresh Identify with New, calls
// Start with op 4's dave_protocol_version, hands every DAVE gateway
// message to Handle, and passes every outgoing Opus frame through
// EncryptOpus; Decrypt opens frames received from other members. Messages
// for the gateway leave through Config.Send. A resume keeps the Session;
// there is nothing to close: a Session owns no goroutine and no resource
// besides memory.
//
//	s, _ := dave.New(dave.Config{UserID: u, ChannelID: c, Send: send})
//	s.Start(1)                        // op 4: sends op 26 (key package)
//	s.Handle(dave.OpMLSExternalSender, body)
//	payload, _ := s.EncryptOpus(buf[:0], opus)
//
// The state machine follows voice spec §3.5 (libdave's
// DaveSessionManager, @discordjs/voice, godave):
//
//	op 4 / op 24 epoch 1   new key package (op 26), pending group once the
//	                       external sender (op 25) is known
//	op 27 append / revoke  validate and cache external Add/Remove proposals;
//	                       commit all cached ones by reference (op 28)
//	op 29 / op 30          follow the winning commit or join by Welcome;
//	                       install every member's receive ratchet; op 23,
//	                       or execute at once when the transition id is 0;
//	                       on failure op 31 and a new key package
//	op 21 / op 22          prepare / execute a transition: the sender
//	                       switches to its new ratchet (nonce restarts at
//	                       1) or to passthrough (version 0)
//
// # Goroutines
//
// Handle runs on the connection's reader goroutine, EncryptOpus on its
// send loop, Decrypt on whatever reads UDP; all three may run at once.
// MLS state, the sender and the receivers sit behind three separate
// locks, so the 20 ms send path never waits for a commit being processed
// (which costs milliseconds of HPKE and ECDSA). Config.Send is called with
// the MLS lock held and must not call back into the Session.
//
// # Why a pure-Go MLS?
//
// Discord closes voice connections without DAVE (4017) since March 2026.
// The only other implementations are C++ (libdave with mlspp and OpenSSL)
// and Rust (davey, openmls); neither fits a pure-Go, cgo-free node. The
// MLS subset lives in internal/mls and passes the RFC 9420 test vectors
// for ciphersuite 2; davetest runs it against davey and ts-mls.
//
// # Why does the sender seal with a 16-byte tag and keep 8?
//
// See frame.go: Go's GCM refuses 8-byte tags; the first 8 bytes of the
// full tag are the truncated tag. EncryptOpus allocates nothing when dst
// has len(opus)+16 bytes to spare (BenchmarkEncryptOpus).
//
// # Decisions where the spec leaves a choice
//
//   - A commit (op 29) that is not ours while we have no established group
//     is ignored, not refused (voice spec 3.5 recommends this).
//   - op 22 for a transition we never prepared changes nothing and is
//     logged, as after a recovery from an invalid commit the gateway may
//     still execute the transition we refused.
//   - A commit that removes us answers with a new key package but no op 31:
//     the commit was valid, the gateway re-adds us from the package.
//   - A Welcome that is not for our key package while we are established is
//     ignored instead of resetting a working group.
//   - An op 27 whose proposals fail validation is refused as a whole
//     (Handle returns ErrProposal) and produces no commit.
//   - The silence frame F8 FF FE goes out unencrypted, as davey and
//     @discordjs/voice send it; every receiver lets it through.
//   - Receive passthrough (frames without the DAVE marker accepted) is open
//     from Start until 10 s after the first transition to version 1
//     executes, and again after op 21 with version 0, like libdave.
//   - op 24 with an epoch other than 1 changes nothing: there is no version
//     above 1 to move to.
//   - Receivers refuse a generation above (170 × seconds since the ratchet
//     began) >> 24, replays, and nonces more than 1000 behind the newest;
//     they keep the previous epoch's keys for 10 s after a new one arrives.
package dave
