package voice

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// interop skips a test whose external oracle is missing, unless
// DISCODO_REQUIRE_INTEROP=1 (CI) makes that a failure.
func interop(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("DISCODO_REQUIRE_INTEROP") == "1" {
		t.Fatalf("%s missing (DISCODO_REQUIRE_INTEROP=1): %v", what, err)
	}
	t.Skipf("%s missing: %v", what, err)
}

// TestTransportInteropPython: packets sealed by the packetizer, across the
// seq, timestamp and nonce wrap, decrypt with python3-cryptography
// (AES-256-GCM) and python3-nacl (XChaCha20-Poly1305) to what was sealed.
func TestTransportInteropPython(t *testing.T) {
	const python = "/usr/bin/python3"
	_, err := os.Stat(python)
	interop(t, python, err)
	interop(t, "python3-cryptography and python3-nacl",
		exec.Command(python, "-c", "import cryptography.hazmat.primitives.ciphers.aead, nacl.bindings").Run())

	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		t.Run(mode, func(t *testing.T) {
			key := make([]byte, 32)
			for i := range key {
				key[i] = byte(i*7 + 1)
			}
			p, err := newPacketizer(mode, key, 0xDEADBEEF, 65534, 1<<32-960, 1<<32-2)
			if err != nil {
				t.Fatal(err)
			}
			payloads := [][]byte{{0xFC, 1, 2, 3}, silence[:], bytes.Repeat([]byte{0xAB}, 1275), {0xFC}, append(bytes.Repeat([]byte{9}, 40), 0xFA, 0xFA)}
			req := struct {
				Mode    string   `json:"mode"`
				Key     string   `json:"key"`
				Packets []string `json:"packets"`
			}{Mode: mode, Key: hex.EncodeToString(key)}
			for _, pl := range payloads {
				pkt, err := p.seal(nil, pl)
				if err != nil {
					t.Fatal(err)
				}
				req.Packets = append(req.Packets, hex.EncodeToString(pkt))
			}
			in, _ := json.Marshal(req)
			cmd := exec.Command(python, "testdata/transport_decrypt.py")
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("python: %v\n%s", err, stderr.String())
			}
			var got []struct {
				V, PT, Seq int
				TS, SSRC   uint32
				Nonce      uint32
				Payload    string
			}
			if err := json.Unmarshal(out, &got); err != nil || len(got) != len(payloads) {
				t.Fatalf("python said %s (%v)", out, err)
			}
			for i, g := range got {
				wantSeq := (65534 + i) % 65536
				wantTS := uint32(1<<32-960) + uint32(960*i)
				wantNonce := uint32(1<<32-2) + uint32(i)
				if g.V != 2 || g.PT != 0x78 || g.Seq != wantSeq || g.TS != wantTS || g.SSRC != 0xDEADBEEF || g.Nonce != wantNonce {
					t.Errorf("packet %d: %+v", i, g)
				}
				if g.Payload != hex.EncodeToString(payloads[i]) {
					t.Errorf("packet %d: python decrypted %.40s…", i, g.Payload)
				}
			}
		})
	}
}

// TestTransportInteropDiscordJS: packets built by the packetizer are
// byte-identical to @discordjs/voice 0.19.2's createAudioPacket for the
// same seq, timestamp, SSRC, nonce and key, across the wrap, and its
// VoiceReceiver.decrypt opens ours (testdata/discordjs, `npm ci` there).
func TestTransportInteropDiscordJS(t *testing.T) {
	node, err := exec.LookPath("node")
	interop(t, "node", err)
	_, err = os.Stat("testdata/discordjs/node_modules/@discordjs/voice/package.json")
	interop(t, "@discordjs/voice (npm ci in appliance/voice/testdata/discordjs)", err)

	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		t.Run(mode, func(t *testing.T) {
			key := make([]byte, 32)
			for i := range key {
				key[i] = byte(200 - i*3)
			}
			const ssrc = 0x12345678
			p, err := newPacketizer(mode, key, ssrc, 65535, 1<<32-960, 1<<32-1)
			if err != nil {
				t.Fatal(err)
			}
			type pkt struct {
				Seq     uint16 `json:"seq"`
				TS      uint32 `json:"ts"`
				SSRC    uint32 `json:"ssrc"`
				Nonce   uint32 `json:"nonce"`
				Payload string `json:"payload"`
				Ours    string `json:"ours"`
			}
			req := struct {
				Mode    string `json:"mode"`
				Key     string `json:"key"`
				Packets []pkt  `json:"packets"`
			}{Mode: mode, Key: hex.EncodeToString(key)}
			for _, pl := range [][]byte{{0xFC, 0xFF, 0xFE}, silence[:], bytes.Repeat([]byte{0x5C}, 300), {0xFC}} {
				seq, ts, nonce := p.header.SequenceNumber, p.header.Timestamp, p.counter
				ours, err := p.seal(nil, pl)
				if err != nil {
					t.Fatal(err)
				}
				req.Packets = append(req.Packets, pkt{seq, ts, ssrc, nonce, hex.EncodeToString(pl), hex.EncodeToString(ours)})
			}
			in, _ := json.Marshal(req)
			cmd := exec.Command(node, "packets.js")
			cmd.Dir = "testdata/discordjs"
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, stderr.String())
			}
			var got []struct{ Built, Decrypted string }
			if err := json.Unmarshal(out, &got); err != nil || len(got) != len(req.Packets) {
				t.Fatalf("node said %s (%v)", out, err)
			}
			for i, g := range got {
				if g.Built != req.Packets[i].Ours {
					t.Errorf("packet %d:\n ours       %s\n discordjs  %s", i, req.Packets[i].Ours, g.Built)
				}
				if g.Decrypted != req.Packets[i].Payload {
					t.Errorf("packet %d: discordjs decrypted %s, want %s", i, g.Decrypted, req.Packets[i].Payload)
				}
			}
		})
	}
}
