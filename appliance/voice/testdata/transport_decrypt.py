#!/usr/bin/python3
"""Independent oracle for discord-voice.md section 2.3: decrypts the
*_rtpsize packets written by TestTransportInteropPython with Debian's
python3-cryptography (AES-256-GCM) and python3-nacl (libsodium
XChaCha20-Poly1305-IETF). Reads JSON on stdin, writes JSON on stdout:
for each packet its seq, timestamp, ssrc, nonce and decrypted payload."""
import json
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

req = json.load(sys.stdin)
key = bytes.fromhex(req["key"])
out = []
for pkt_hex in req["packets"]:
    pkt = bytes.fromhex(pkt_hex)
    b0, b1, seq, ts, ssrc = struct.unpack(">BBHII", pkt[:12])
    hdr = 12 + 4 * (b0 & 0x0F) + (4 if b0 & 0x10 else 0)
    aad, body, counter = pkt[:hdr], pkt[hdr:-4], pkt[-4:]
    if req["mode"] == "aead_aes256_gcm_rtpsize":
        plain = AESGCM(key).decrypt(counter + bytes(8), body, aad)
    elif req["mode"] == "aead_xchacha20_poly1305_rtpsize":
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(body, aad, counter + bytes(20), key)
    else:
        sys.exit("unknown mode " + req["mode"])
    out.append({
        "v": b0 >> 6, "pt": b1 & 0x7F, "seq": seq, "ts": ts, "ssrc": ssrc,
        "nonce": struct.unpack(">I", counter)[0], "payload": plain.hex(),
    })
json.dump(out, sys.stdout)
