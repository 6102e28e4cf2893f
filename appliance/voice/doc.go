// Package voice is one Discord voice connection, client side: voice
// gateway v8 over a websocket, UDP with IP discovery, RTP, transport
// encryption (aead_aes256_gcm_rtpsize, aead_xchacha20_poly1305_rtpsize)
// and the 20 ms send loop. It follows /shared/spec/discord-voice.md
// sections 1 and 2; DAVE (section 3) plugs in through the E2EE interface
// and lives in package dave.
//
// # Basics
//
//	c, err := voice.New(voice.Config{
//		Endpoint: ep, GuildID: g, ChannelID: ch, UserID: u,
//		SessionID: sid, Token: tok,
//		NewE2EE: newDAVE, OnEvent: report, Source: player,
//	})
//	go func() { err := c.Run(ctx); ... }() // blocks until the end
//	c.SetSource(otherPlayer)                // any time, any goroutine
//	c.Close()                               // Run returns nil soon after
//
// New validates and starts nothing. Run dials, identifies, runs IP
// discovery, selects the protocol and, once the Session Description
// arrived, pulls one Opus frame per 20 ms slot from the FrameSource and
// sends it. It reconnects and resumes by itself and returns only when the
// connection is over:
//
//   - nil after Close; ctx.Err() when its context ended;
//   - *CloseError when the voice server closed with a code the table of
//     §1.9 says not to retry (4004, 4011, 4014, 4021, 4022, our-bug codes
//     and 4017, unknown 4xxx) or with 4006 twice in a row;
//     CloseError.SessionOver says the call is over (VC_DESTROYED),
//     Reconnectable says a new VOICE_SERVER_UPDATE may help;
//   - an error wrapping ErrGaveUp after Config.MaxAttempts failed
//     attempts in a row (dial, TLS, handshake timeout, discovery);
//   - an error wrapping ErrNoMode when neither transport mode is offered.
//
// Close codes are followed as §1.9 says: below 4000 (including a dropped
// TCP connection, 1006) and 4015 resume: op 7 with the last seq_ack on a
// new socket, keeping UDP, SSRC, key, RTP sequence state and the E2EE; the
// messages the server replays after op 9 are handled like any other. 4006
// and 4009 identify afresh: new socket, new E2EE, new SSRC and key, new
// random sequence number and timestamp. Heartbeat ACKs missing
// HeartbeatMisses times in a row close the socket (code 4000) and resume.
// A socket that drops before its Session Description has nothing to resume
// and identifies afresh. Events (Ready, Resumed, Reconnecting with the
// code, Closed) go to Config.OnEvent; Stats.Reconnects counts reconnects
// by close code (0: local reasons).
//
// A new VOICE_SERVER_UPDATE is a new session (§1.1): the node closes the
// Conn and starts a new one. A channel move on the same server
// (VOICE_STATE_UPDATE with another channel_id) is SetChannel: the channel
// id is the DAVE group id, so the connection identifies afresh with a new
// E2EE for the new channel.
//
// # Goroutines
//
// Run owns every goroutine it starts and waits for all of them before it
// returns: the event dispatcher (calls OnEvent, in order); per socket the
// gws read loop, an IP discovery goroutine while discovery runs, and the
// send loop while the session is ready. The session loop itself runs on
// Run's goroutine: it handles every gateway message, the heartbeat ticker
// and the close-code decisions, so the gateway state needs no locks.
// E2EE.Handle is called from that goroutine; E2EE.EncryptOpus and
// FrameSource.NextFrame from the send loop; the E2EE send function may be
// called from any goroutine and writes to whichever socket is open.
//
// # Send path
//
// The send loop keeps an absolute grid: slot n is due at start + n·20 ms.
// Its timer is set 0.5 ms early (timerLead), because Go's timers on Linux
// fire 0–1 ms late: packets then leave within about ±0.5 ms of their slot
// rather than 0–1 ms after it. A wake-up less than a slot late sends at once; after a stall of a slot
// or more the passed slots are skipped (Stats.Skipped) and the loop waits
// for the next boundary, so packets never leave in a burst. Speaking (op 5,
// flag 1) goes out before the first audio packet; when the source returns
// 0, five F8 FF FE frames follow, then Speaking 0; audio that returns
// inside the tail cancels it. Per packet the sequence number goes up by 1
// and the timestamp by 960, both wrapping; the transport nonce is a 32-bit
// counter appended big-endian. Nothing on this path allocates
// (BenchmarkSlot, BenchmarkSeal). Stats.Late counts slots that started
// 5 ms or more after their due time, the sender's side of the pacing
// target; BenchmarkPacingLoopback measures arrivals at the fake server.
//
// TLS: wss:// endpoints are verified against the system trust store
// (SSL_CERT_FILE and SSL_CERT_DIR honoured, TestSSLCertFile) unless
// Config.TLSConfig is set.
//
// # Decisions where the spec leaves a choice
//
//   - Timestamps continue by +960 per packet across pauses (§0 allows
//     this or a jump by the elapsed time).
//   - Silence frames are not passed through the E2EE: davey and
//     @discordjs/voice send them plain and every receiver lets exactly
//     this frame through (§2.2).
//   - The transport nonce starts at 0 for each key, as @discordjs/voice
//     does, and never repeats: after 2^32 packets under one key the send
//     loop stops with ErrNonceExhausted and the connection identifies
//     afresh for a new key (about 2.7 years of continuous audio).
//   - seq_ack is -1 before anything numbered arrived (§1.4 allows -1 or
//     leaving it out); it is reset by a fresh Identify and kept by a resume.
//   - Close codes the table does not name (4000, 4007, 4008, 4010, ...)
//     stop the connection rather than retry blindly. 4017 stops too: it
//     means our DAVE negotiation is broken.
//   - 4006 after a fresh Identify that itself followed a 4006 gives up
//     (§1.9 "if that fails, give up").
//   - The first retry after a working session goes out at once; failed
//     attempts back off from ReconnectDelay, doubling up to
//     MaxReconnectDelay, with up to 25 % jitter.
//   - A bare endpoint ending in ":80" is dialled on 443: wss on port 80
//     never works, and Discord used to send ":80".
//   - IP discovery's SSRC echo is not checked (Discord's reply is not
//     documented to echo it exactly); the address must be a literal IP and
//     the port nonzero.
//   - An 8-byte UDP keep-alive (little-endian uint32 counter, 4 zero
//     bytes) goes out every 5 s while the send loop runs, as
//     @discordjs/voice does; the docs do not ask for it, but it keeps NAT
//     mappings open while the node is silent. Received UDP (other users'
//     audio) is not read; the receive side is future work.
//   - OnEvent gets events through a 64-entry queue: a callback that falls
//     that far behind loses events (logged) rather than stall the call.
//
// # Why gws for the client too?
//
// The node already serves its websocket with github.com/lxzan/gws, and gws
// has a client (gws.NewClient) with TLS, a pluggable dialer and handshake
// timeout; one websocket library is less to audit. Its dialer takes no
// context, so the TCP connection is tied to the session's context with
// context.AfterFunc: cancelling the session closes the socket, which ends
// the read loop.
//
// # Why a pull model with the clock here?
//
// The connection knows when it may send (after op 4 or op 9, not while
// reconnecting) and owns the grid; a pushing player would have to learn
// both. Pulling one frame per slot also makes "skip rather than burst"
// natural: a slot that passed is simply never asked for.
//
// # Why is the session loop single-threaded?
//
// Every gateway message, heartbeat tick, discovery result and send-loop
// failure arrives on a channel into one select. The order of Identify,
// Ready, discovery, Select Protocol, Session Description and the send loop
// is then plain sequential code, resume and identify decisions read one
// set of variables, and tests can inject any close at any point.
package voice
