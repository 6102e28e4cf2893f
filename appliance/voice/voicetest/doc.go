// Package voicetest is an in-process fake Discord voice server for tests:
// a voice gateway v8 websocket (ws:// on loopback, or wss:// with a
// self-signed certificate) plus a UDP socket, following
// discord-voice.md §1 and §2 from the server's side.
//
// It answers IP discovery, hands out an SSRC and a random key, really
// decrypts both transport modes (aead_aes256_gcm_rtpsize and
// aead_xchacha20_poly1305_rtpsize) with its own parser, checks sequence
// numbers, timestamps and nonces, decodes the Opus it receives with
// libopus (github.com/hraban/opus: the test-support exception to the cgo
// rule) and keeps the PCM, so a test can check what was heard.
//
// # Basics
//
//	srv := voicetest.New(t, voicetest.Options{})
//	// dial srv.Endpoint() with the client under test ...
//	srv.Wait(5*time.Second, func() bool { return len(srv.Session().Packets()) >= 50 })
//	pcm := srv.Session().PCM()
//	if v := srv.Violations(); len(v) > 0 { t.Fatal(v) }
//
// New registers Close with t.Cleanup. Each Identify creates a Session
// (new SSRC and key); a Resume binds a new socket to the existing Session
// with the same session_id and replays the numbered messages the client
// missed. Server methods that act on "the" session use the latest one.
//
// # Hooks for DAVE and other tests
//
//   - Options.DAVEVersion is announced in op 4 (capped by the client's
//     max_dave_protocol_version); Options.RequireDAVE answers an Identify
//     without DAVE with 4017.
//   - Session.SendJSON and Session.SendBinary send numbered server ops
//     (11, 21, 22, 24; 25, 27, 29, 30, ...); Options.OnClientOp sees every
//     client op, JSON or binary (23, 26, 28, 31, ...).
//   - Options.OnPayload sees every transport-decrypted RTP payload;
//     Options.DecryptFrame turns a DAVE frame back into Opus so the server
//     can decode what a listener would hear.
//   - Session.CloseWith injects any close code, Session.Drop cuts the TCP
//     connection, Session.DropHeartbeatACKs stops answering heartbeats,
//     Session.LoseReplayBuffer makes the next resume fail with 4006.
//
// Tone is a FrameSource playing a sine encoded with libopus; Level
// measures a frequency in decoded PCM (Goertzel), to check what was heard.
// One server serves many clients (Server.SessionOf finds a guild's
// session); Options.SkipDecode, DiscardPCM and DiscardPackets make it
// cheap under load (package bench drives a thousand clients at one
// server), ReadBuffer keeps their packets from overflowing the UDP
// socket, and PollUDP drains the socket periodically so that a client
// on the same machine is not charged for waking the server per packet.
//
// # Numbering and replay
//
// Every message the server may replay carries a sequence number: JSON ops
// 2, 4 and those sent with Session.SendJSON get a top-level "seq"; binary
// ops sent with Session.SendBinary get the 2-byte prefix. Hello (8),
// Heartbeat ACK (6) and Resumed (9) are not numbered. Numbers are uint16
// and wrap (Options.SeqStart tests that). Messages sent while no socket is
// bound are kept and replayed on resume. A resume whose seq_ack is not in
// the buffer, or after Session.LoseReplayBuffer, is closed with 4006.
//
// # Checks
//
// Violations returns what the client got wrong: bad Identify or Resume
// fields, seq_ack values never sent, RTP that does not decrypt, wrong
// payload type or SSRC, sequence numbers not +1, timestamps not a positive
// multiple of 960 apart, nonces not +1 under one key, audio before
// Speaking, Opus that does not decode.
//
// # Goroutines
//
// The server runs an HTTP server (one goroutine per socket) and one UDP
// reader; Close stops them all and waits. Hooks in Options are called
// without the server's lock held, from those goroutines.
package voicetest
