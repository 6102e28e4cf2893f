// Package davetest plays the other side of DAVE for tests: the voice
// gateway's DAVE role (Gateway), the external sender that signs its
// proposals (GoSigner, or TSSigner backed by ts-mls), and other members of
// the call (Member, an in-process dave.Session; DaveyMember, a
// @snazzah/davey session).
//
// # Basics
//
//	gw := davetest.NewGateway(davetest.GatewayConfig{ChannelID: c, Signer: signer})
//	gw.Connect(nodeUser, peer)          // op 11 and op 25 to the client
//	gw.ClientOp(nodeUser, op, payload)  // the client's ops 23, 26, 28, 31
//	m, _ := davetest.NewMember(gw, 555) // another member joins
//	gw.Disconnect(555)                  // it leaves: Remove or revoke
//
// A voicetest.Session satisfies Peer, so the Gateway plugs into the fake
// voice server through its OnClientOp hook (see e2e_test.go).
//
// # The sidecar
//
// Independent implementations run in one node.js process
// (testdata/peer.mjs in the dave package) spoken to over stdin/stdout, one
// JSON object per line: ts-mls signs the external proposals and computes
// their ProposalRefs; davey sessions join, commit, follow commits and
// decrypt. NeedSidecar skips a test when node or the npm packages are
// missing, unless DISCODO_REQUIRE_INTEROP is set; CI runs npm ci in that
// testdata directory.
//
// # Goroutines
//
// Each Member and DaveyMember owns one goroutine that delivers the
// gateway's messages in order (the gateway never calls a client while it
// could be called back); Close stops it and waits. The Gateway owns none:
// its methods run on the callers' goroutines under one lock, and call
// Peers with that lock held, which is why Peers only queue.
//
// # Quirks of the independent implementations
//
//   - ts-mls reads the external_senders extension as one ExternalSender,
//     not a vector: the sidecar hands it a group context carrying the bare
//     struct, which also makes the sender index 0.
//   - ts-mls's P-256 keygen returns the compressed point (33 bytes); MLS
//     and DAVE use the uncompressed one (65 bytes), recomputed from the
//     same private key with @noble/curves.
//   - davey decrypts with the newest epoch's keys as soon as it processed a
//     commit or Welcome: transitions (op 22) are the sender's business.
package davetest
