// Oracle for appliance/voice (discord-voice.md section 4): builds packets
// with @discordjs/voice's Networking.createAudioPacket and decrypts ours
// with VoiceReceiver.decrypt. JSON on stdin:
//   {mode, key (hex), packets: [{seq, ts, ssrc, nonce, payload (hex), ours (hex)}]}
// JSON on stdout: [{built (hex), decrypted (hex)}]
'use strict';
const { Networking, VoiceReceiver } = require('@discordjs/voice');

async function main() {
  await import('@noble/ciphers/chacha.js');
  await new Promise((r) => setTimeout(r, 100)); // let @discordjs/voice load it too
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const req = JSON.parse(input);
  const key = Buffer.from(req.key, 'hex');
  const nonceLen = req.mode === 'aead_aes256_gcm_rtpsize' ? 12 : 24;
  const out = [];
  for (const p of req.packets) {
    const connectionData = {
      sequence: p.seq, timestamp: p.ts, ssrc: p.ssrc,
      nonce: (p.nonce + 2 ** 32 - 1) % 2 ** 32, // encryptOpusPacket pre-increments
      nonceBuffer: Buffer.alloc(nonceLen), secretKey: new Uint8Array(key), encryptionMode: req.mode,
    };
    const built = Networking.prototype.createAudioPacket.call(
      { encryptOpusPacket: Networking.prototype.encryptOpusPacket },
      Buffer.from(p.payload, 'hex'), connectionData, undefined);
    const decrypted = VoiceReceiver.prototype.decrypt.call(
      {}, Buffer.from(p.ours, 'hex'), req.mode, Buffer.alloc(nonceLen), key);
    out.push({ built: built.toString('hex'), decrypted: Buffer.from(decrypted).toString('hex') });
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
