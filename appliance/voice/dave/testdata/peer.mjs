// peer.mjs: independent DAVE/MLS implementations for the dave package's
// interop tests, driven over stdin/stdout with one JSON object per line.
//
//   request:  {"id": n, "cmd": "...", ...args}      (bytes as hex strings)
//   response: {"id": n, "ok": true, ...results} or {"id": n, "error": "..."}
//
// Roles:
//   signer.*  the voice gateway's external sender, signed with ts-mls
//             (the gateway side of DAVE: external Add/Remove proposals and
//             their ProposalRefs);
//   member.*  DAVE members implemented by @snazzah/davey (openmls): key
//             packages, proposals -> commit/welcome, commits, welcomes,
//             frame decryption.
import readline from "node:readline";
import {
  getCiphersuiteImpl, getCiphersuiteFromName, proposeExternal,
  encodeMlsMessage, encodeExternalSender,
} from "ts-mls";
import { decodeKeyPackage } from "ts-mls/keyPackage.js";
import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import * as davey from "@snazzah/davey";
import { p256 } from "@noble/curves/nist.js";

const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (s) => new Uint8Array(Buffer.from(s, "hex"));

let cs;          // ts-mls ciphersuite 2
let signer;      // {publicKey, signKey, externalSender}
const members = new Map(); // name -> DAVESession

const commands = {
  async "signer.init"() {
    cs = await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMP256_AES128GCM_SHA256_P256"));
    const kp = await cs.signature.keygen();
    // ts-mls hands out the compressed point (33 bytes); MLS and DAVE use
    // the uncompressed SEC1 form (65 bytes). Same key, other encoding.
    kp.publicKey = p256.getPublicKey(kp.signKey, false);
    const externalSender = encodeExternalSender({
      signaturePublicKey: kp.publicKey,
      credential: { credentialType: "basic", identity: new TextEncoder().encode("discord") },
    });
    signer = { ...kp, externalSender };
    return { externalSender: hex(externalSender) };
  },

  // Sign external proposals. ts-mls reads the external_senders extension
  // as ONE ExternalSender, not a vector (see the voice spec, section 4),
  // so the group context it is handed carries the bare struct; that
  // places the sender at index 0, which is what DAVE uses.
  async "signer.propose"({ groupId, epoch, proposals }) {
    const groupInfo = {
      groupContext: {
        version: "mls10",
        cipherSuite: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
        groupId: unhex(groupId),
        epoch: BigInt(epoch),
        treeHash: new Uint8Array(32),
        confirmedTranscriptHash: new Uint8Array(32),
        extensions: [{ extensionType: "external_senders", extensionData: signer.externalSender }],
      },
    };
    const messages = [], refs = [];
    for (const p of proposals) {
      let proposal;
      if (p.keyPackage) {
        const decoded = decodeKeyPackage(unhex(p.keyPackage), 0);
        if (!decoded) throw new Error("ts-mls cannot decode the key package");
        proposal = { proposalType: "add", add: { keyPackage: decoded[0] } };
      } else {
        proposal = { proposalType: "remove", remove: { removed: p.remove } };
      }
      const msg = await proposeExternal(groupInfo, proposal, signer.publicKey, signer.signKey, cs);
      messages.push(hex(encodeMlsMessage(msg)));
      refs.push(hex(await makeProposalRef({
        wireformat: "mls_public_message",
        content: msg.publicMessage.content,
        auth: msg.publicMessage.auth,
      }, cs.hash)));
    }
    return { messages, refs };
  },

  "member.new"({ name, userId, channelId }) {
    const s = new davey.DAVESession(davey.DAVE_PROTOCOL_VERSION, userId, channelId);
    members.set(name, s);
    return { keyPackage: hex(s.getSerializedKeyPackage()) };
  },
  "member.reinit"({ name, userId, channelId }) {
    const s = members.get(name);
    s.reinit(davey.DAVE_PROTOCOL_VERSION, userId, channelId);
    return { keyPackage: hex(s.getSerializedKeyPackage()) };
  },
  "member.externalSender"({ name, data }) {
    members.get(name).setExternalSender(Buffer.from(data, "hex"));
    return {};
  },
  "member.proposals"({ name, op, data, recognized }) {
    const r = members.get(name).processProposals(op, Buffer.from(data, "hex"), recognized);
    return { commit: r.commit ? hex(r.commit) : "", welcome: r.welcome ? hex(r.welcome) : "" };
  },
  "member.commit"({ name, data }) {
    members.get(name).processCommit(Buffer.from(data, "hex"));
    return {};
  },
  "member.welcome"({ name, data }) {
    members.get(name).processWelcome(Buffer.from(data, "hex"));
    return {};
  },
  "member.passthrough"({ name, on }) {
    members.get(name).setPassthroughMode(on, 10);
    return {};
  },
  "member.decrypt"({ name, userId, frame }) {
    return { opus: hex(members.get(name).decrypt(userId, davey.MediaType.AUDIO, Buffer.from(frame, "hex"))) };
  },
  "member.encrypt"({ name, opus }) {
    return { frame: hex(members.get(name).encryptOpus(Buffer.from(opus, "hex"))) };
  },
  "member.status"({ name }) {
    const s = members.get(name);
    const auth = s.getEpochAuthenticator();
    return {
      epoch: s.epoch === null ? -1 : Number(s.epoch),
      status: s.status, ready: s.ready, leaf: s.ownLeafIndex ?? -1,
      userIds: s.getUserIds(), authenticator: auth ? hex(auth) : "",
    };
  },
  "member.close"({ name }) {
    members.get(name)?.reset();
    members.delete(name);
    return {};
  },
  "version"() {
    return { davey: davey.VERSION, protocol: davey.DAVE_PROTOCOL_VERSION };
  },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let req;
  try {
    req = JSON.parse(line);
    const f = commands[req.cmd];
    if (!f) throw new Error(`unknown command ${req.cmd}`);
    const res = await f(req);
    process.stdout.write(JSON.stringify({ id: req.id, ok: true, ...res }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: req?.id ?? 0, error: String(e?.message ?? e) }) + "\n");
  }
}
