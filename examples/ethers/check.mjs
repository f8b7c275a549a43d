// check.mjs: ethers v6 against a running sequencer node (SPEC §2, §4).
//
//   node check.mjs <rpc-url> <primary-address> <wallet-private-key>
//
// The node must run with an allowlist holding the wallet's address. The
// script talks to it with ethers' JsonRpcProvider (default batching),
// signs its writes with an ethers Wallet (EIP-712 Request), and checks
// every entry of the log with TypedDataEncoder.hash and verifyTypedData.
// It prints one "ok ..." line per check passed, and on the first mismatch
// a "FAIL ..." line, then exits 1.
//
// uint64 fields (seq, nonce, timestamp) are JSON numbers, which JavaScript
// parses into doubles: exact only up to 2^53. Numbers from ethers'
// provider.send are used only when Number.isSafeInteger holds; the log is
// verified from the raw response body parsed losslessly into BigInt (with
// JSON.parse source text access where the runtime has it, Node >= 21, else
// a tokenizer that keeps integer literals as text).
//
// SEQ_ETHERS_SABOTAGE (for the test's negative cases only) breaks one part
// on purpose, to show that the checks fail: "domain-name" (a wrong EIP-712
// domain name), "lossy-uint64" (hash the numbers ethers' JSON.parse gave),
// "request-kind" (sign appends as if they were closes).

import {
  JsonRpcProvider, Wallet, TypedDataEncoder, verifyTypedData,
  getAddress, keccak256, hexlify, toUtf8Bytes, ZeroHash, isHexString, version as ethersVersion,
} from "ethers";

const [url, expectedPrimary, walletKey] = process.argv.slice(2);
const sabotage = process.env.SEQ_ETHERS_SABOTAGE ?? "";

class CheckError extends Error {}
function fail(msg) { throw new CheckError(msg); }
function ok(msg) { console.log("ok " + msg); }
function expectEq(what, got, want) {
  if (got !== want) fail(`${what}: got ${fmt(got)}, want ${fmt(want)}`);
}
function fmt(v) {
  return typeof v === "bigint" ? v.toString() + "n" : JSON.stringify(v);
}

const KINDS = { tx: 0, close: 1, release: 2, fail: 3, sync: 4, attempt: 5, confirm: 6, expire: 7, reclaim: 8 };
// Entries the node writes on its own carry the primary as sender (SPEC §2).
const NODE_WRITTEN = new Set(["confirm", "expire", "reclaim"]);
const CHECKPOINT_TYPES = {
  Checkpoint: [
    { name: "size", type: "uint64" },
    { name: "root", type: "bytes32" },
    { name: "timestamp", type: "uint64" },
  ],
};
const ENTRY_TYPES = {
  Entry: [
    { name: "seq", type: "uint64" },
    { name: "prevHash", type: "bytes32" },
    { name: "kind", type: "uint8" },
    { name: "sender", type: "address" },
    { name: "lineage", type: "string" },
    { name: "nonce", type: "uint64" },
    { name: "externalId", type: "string" },
    { name: "dataHash", type: "bytes32" },
    { name: "timestamp", type: "uint64" },
  ],
};
const REQUEST_TYPES = {
  Request: [
    { name: "kind", type: "uint8" },
    { name: "lineage", type: "string" },
    { name: "externalId", type: "string" },
    { name: "dataHash", type: "bytes32" },
    { name: "nonce", type: "uint64" },
    { name: "deadline", type: "uint64" },
  ],
};
const MAX_UINT64 = (1n << 64n) - 1n;

// u64 turns a JSON value into a BigInt uint64. A JS number is accepted only
// when it is a safe integer: above 2^53 it may already be rounded.
function u64(what, v) {
  if (typeof v === "bigint") {
    if (v < 0n || v > MAX_UINT64) fail(`${what}: ${v} is not a uint64`);
    return v;
  }
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) {
      if (sabotage === "lossy-uint64") return BigInt(v);
      fail(`${what}: ${v} is not a safe integer (precision lost in JSON.parse)`);
    }
    return BigInt(v);
  }
  fail(`${what}: ${fmt(v)} is not a number`);
}

// Lossless JSON: every integer literal becomes a BigInt.
const hasSourceText = (() => {
  let seen = false;
  try { JSON.parse("18446744073709551615", (k, v, ctx) => { seen = ctx?.source === "18446744073709551615"; return v; }); } catch { }
  return seen;
})();
const losslessMethod = hasSourceText ? "JSON.parse source text (context.source)" : "integer-literal tokenizer";
function parseLossless(text) {
  if (hasSourceText) {
    return JSON.parse(text, (k, v, ctx) =>
      typeof v === "number" && /^-?\d+$/.test(ctx.source) ? BigInt(ctx.source) : v);
  }
  // Outside strings, JSON has no digits but in numbers: match whole strings
  // (left alone) or integer literals (wrapped as {"$u64":"digits"}).
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g,
    (tok) => (/^-?\d+$/.test(tok) ? `{"$u64":"${tok}"}` : tok));
  return JSON.parse(marked, (k, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 &&
      typeof v.$u64 === "string" ? BigInt(v.$u64) : v);
}

// rawCall sends one JSON-RPC call with fetch and parses the body losslessly.
// A BigInt param is sent as a decimal string (the node takes one for
// from, chainNonce and deadline).
async function rawCall(method, params) {
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }, (k, v) => typeof v === "bigint" ? v.toString() : v),
  });
  const text = await res.text();
  if (!res.ok) fail(`${method}: HTTP ${res.status}: ${text}`);
  const msg = parseLossless(text);
  if (msg.error) fail(`${method}: ${JSON.stringify(msg.error, (k, v) => typeof v === "bigint" ? v.toString() : v)}`);
  return { result: msg.result, text };
}

// answered awaits p, a provider.send; a JSON-RPC error becomes a FAIL
// naming the call and the node's error.
async function answered(what, p) {
  try {
    return await p;
  } catch (err) {
    if (err?.error?.code !== undefined) fail(`${what}: node answered ${JSON.stringify(err.error)}`);
    throw err;
  }
}

// rpcError runs p, which must reject with the JSON-RPC error code; it
// returns ethers' error.
async function rpcError(what, p, code) {
  try {
    const r = await p;
    fail(`${what}: resolved ${JSON.stringify(r)}, want error ${code}`);
  } catch (err) {
    if (err instanceof CheckError) throw err;
    // ethers wraps JSON-RPC errors it does not know in UNKNOWN_ERROR
    // ("could not coalesce error"), with the node's error as err.error.
    if (err?.error?.code !== code) fail(`${what}: want code ${code}, ethers gave ${err?.code}: ${err?.message}`);
    return err;
  }
}

function entryValue(e) {
  if (!(e.kind in KINDS)) fail(`seq ${e.seq}: unknown kind ${fmt(e.kind)}`);
  return {
    seq: u64("seq", e.seq), prevHash: e.prevHash, kind: KINDS[e.kind], sender: e.sender,
    lineage: e.lineage, nonce: u64(`seq ${e.seq} nonce`, e.nonce), externalId: e.externalId,
    dataHash: e.dataHash, timestamp: u64(`seq ${e.seq} timestamp`, e.timestamp),
  };
}

async function main() {
  if (!url || !expectedPrimary || !walletKey) {
    console.error("usage: node check.mjs <rpc-url> <primary-address> <wallet-private-key>");
    process.exit(2);
  }
  console.log(`node ${process.version}, ethers ${ethersVersion}, lossless JSON: ${losslessMethod}`);
  const wallet = new Wallet(walletKey);

  // 1. A JsonRpcProvider with no network given, exactly as most code makes
  // one. Its first call goes out in one batch with ethers' own network
  // detection (eth_chainId), which the node answers with the chain id of
  // its EIP-712 domain, so the provider starts up as against any node.
  {
    const p = new JsonRpcProvider(url);
    const sent = [], got = [];
    p.on("debug", (e) => {
      if (e.action === "sendRpcPayload") sent.push(e.payload);
      if (e.action === "receiveRpcResult") got.push(...e.result);
    });
    const info = await p.send("sequencer_info", []);
    const net = await p.getNetwork();
    p.destroy();
    expectEq("default provider: sequencer_info primary", info.primary, expectedPrimary);
    expectEq("default provider: detected chain id", net.chainId, BigInt(info.chainId));
    const first = [sent[0]].flat().map((c) => c.method);
    const chainIdCall = [sent[0]].flat().find((c) => c.method === "eth_chainId");
    const answer = chainIdCall && got.find((r) => r.id === chainIdCall.id);
    if (!answer || answer.error || BigInt(answer.result) !== BigInt(info.chainId)) {
      fail(`eth_chainId answered ${JSON.stringify(answer)}, want chain id ${info.chainId}`);
    }
    ok(`default-provider sequencer_info answered; first HTTP request ${Array.isArray(sent[0]) ? "batch" : "call"} [${first}]; eth_chainId answered ${JSON.stringify(answer?.error ?? answer?.result ?? null)}`);
  }

  // 2. sequencer_info through the provider used for the rest.
  const info0 = await rawCall("sequencer_info", []);
  const chainId = u64("chainId", info0.result.chainId);
  const provider = new JsonRpcProvider(url); // the default: network detected, calls batched
  const payloads = [];
  provider.on("debug", (e) => { if (e.action === "sendRpcPayload") payloads.push(e.payload); });
  const info = await provider.send("sequencer_info", []);
  expectEq("info.role", info.role, "primary");
  expectEq("info.primary", info.primary, expectedPrimary);
  expectEq("info.primary is EIP-55", getAddress(info.primary), info.primary);
  expectEq("info.chainId", u64("chainId", info.chainId), chainId);
  expectEq("info.verifyingContract is EIP-55", getAddress(info.verifyingContract), info.verifyingContract);
  const domain = { name: "Sequencer", version: "1", chainId, verifyingContract: info.verifyingContract };
  // Entries are checked under entryDomain, Requests signed under domain
  // (sabotaging that one would only make the node refuse the writes).
  const entryDomain = sabotage === "domain-name" ? { ...domain, name: "Sequencer " } : domain;
  ok(`info primary=${info.primary} chainId=${chainId} verifyingContract=${info.verifyingContract} head=${info.head.seq}`);

  // sign adds from, deadline and signature to params (SPEC §4 Request).
  async function sign(params, kind, { data = null, nonce = 0n } = {}) {
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
    const req = {
      kind: sabotage === "request-kind" && kind === KINDS.tx ? KINDS.close : kind,
      lineage: params.lineage ?? "", externalId: params.externalId ?? "",
      dataHash: data == null ? ZeroHash : keccak256(data), nonce, deadline,
    };
    const signature = await wallet.signTypedData(domain, REQUEST_TYPES, req);
    // Sent as a JSON number: a deadline (Unix seconds) is a safe integer.
    return { ...params, from: wallet.address, deadline: Number(deadline), signature };
  }

  // 3. Signed appends, sent concurrently in one tick: ethers batches them.
  const lineage = `eip155:${chainId}:${wallet.address}`;
  const N = 5;
  const datas = Array.from({ length: N }, (_, i) => hexlify(toUtf8Bytes(`ethers tx ${i}`)));
  const params = await Promise.all(datas.map((data, i) =>
    sign({ data, lineage, externalId: `ethers-${i}` }, KINDS.tx, { data })));
  const before = payloads.length;
  const receipts = await Promise.all(params.map((p, i) =>
    answered(`batch append ethers-${i}`, provider.send("sequencer_append", [p]))));
  const sentNow = payloads.slice(before);
  if (sentNow.length !== 1 || !Array.isArray(sentNow[0]) || sentNow[0].length !== N ||
    !sentNow[0].every((c) => c.method === "sequencer_append")) {
    fail(`batch: ethers sent ${sentNow.length} payloads: ${JSON.stringify(sentNow).slice(0, 300)}`);
  }
  const byReceipt = new Map();
  receipts.forEach((r, i) => {
    expectEq(`append ${i} kind`, r.kind, "tx");
    expectEq(`append ${i} existing`, r.existing, false);
    expectEq(`append ${i} lineage`, r.lineage, lineage);
    expectEq(`append ${i} externalId`, r.externalId, `ethers-${i}`);
    expectEq(`append ${i} dataHash`, r.dataHash, keccak256(datas[i]));
    expectEq(`append ${i} nonce`, u64("nonce", r.nonce), BigInt(i));
    if (i > 0) expectEq(`append ${i} seq`, u64("seq", r.seq), u64("seq", receipts[i - 1].seq) + 1n);
    byReceipt.set(r.hash, r);
  });
  ok(`batch ${N} concurrent sequencer_append calls went out as 1 HTTP batch of ${sentNow[0].length}; seqs ${receipts[0].seq}..${receipts[N - 1].seq}, nonces 0..${N - 1}`);

  // 4. The signed write: the node recorded the wallet as sender.
  for (const r of receipts) expectEq(`seq ${r.seq} sender`, r.sender, wallet.address);
  const r0 = receipts[0];
  const h0 = TypedDataEncoder.hash(entryDomain, ENTRY_TYPES, entryValue(r0));
  expectEq(`receipt seq ${r0.seq} hash`, h0, r0.hash);
  expectEq(`receipt seq ${r0.seq} signer`, verifyTypedData(entryDomain, ENTRY_TYPES, entryValue(r0), r0.signature), info.primary);
  ok(`signed-write Request signed by ethers Wallet ${wallet.address} accepted; receipt sender=${r0.sender}, receipt hash and primary signature verified`);

  // The allowlist is enforced: the same append unsigned is 4001.
  {
    const err = await rpcError("unsigned append", provider.send("sequencer_append",
      [{ data: datas[0], lineage, externalId: "ethers-unsigned" }]), 4001);
    ok(`unsigned-write rejected: ethers ${err.code} "${err.shortMessage}", node error ${JSON.stringify(err.error)}`);
  }

  // 5. Close one ticket, release another (signed), in one batch.
  const [closeP, releaseP] = await Promise.all([
    sign({ lineage, externalId: "ethers-0" }, KINDS.close),
    sign({ lineage, externalId: "ethers-1", reason: "rejected" }, KINDS.release),
  ]);
  const [closed, released] = await Promise.all([
    answered("close ethers-0", provider.send("sequencer_close", [closeP])),
    answered("release ethers-1", provider.send("sequencer_release", [releaseP]))]);
  expectEq("close kind", closed.kind, "close");
  expectEq("close dataHash (the tx entry's hash)", closed.dataHash, r0.hash);
  expectEq("release kind", released.kind, "release");
  expectEq("release nonce", u64("nonce", released.nonce), 1n);
  byReceipt.set(closed.hash, closed).set(released.hash, released);
  ok(`close/release seq ${closed.seq} close ethers-0, seq ${released.seq} release ethers-1 (signed kinds 1 and 2)`);

  // 6. Error case in a batch with reads: close of an unknown ticket is
  // 4003, the other calls of the batch are answered normally.
  {
    const before = payloads.length;
    const unknown = await sign({ lineage, externalId: "no-such-ticket" }, KINDS.close);
    const [e, ticket, ticket1, page] = await Promise.all([
      rpcError("close unknown ticket", provider.send("sequencer_close", [unknown]), 4003),
      provider.send("sequencer_ticket", [{ lineage, externalId: "ethers-0" }]),
      provider.send("sequencer_ticket", [{ lineage, externalId: "ethers-1" }]),
      provider.send("sequencer_read", [{ from: 1, limit: 2 }]),
    ]);
    const batch = payloads.slice(before);
    if (batch.length !== 1 || !Array.isArray(batch[0]) || batch[0].length !== 4) fail(`error batch: ethers sent ${JSON.stringify(batch).slice(0, 300)}`);
    console.log(`  ethers gives: code=${e.code} shortMessage="${e.shortMessage}" error=${JSON.stringify(e.error)}`);
    expectEq("ticket ethers-0 state", ticket.state, "closed");
    expectEq("ticket ethers-0 leaseSeq", ticket.leaseSeq, r0.seq);
    expectEq("ticket ethers-0 finalSeq", ticket.finalSeq, closed.seq);
    expectEq("ticket ethers-1 state", ticket1.state, "released");
    expectEq("ticket ethers-1 finalSeq", ticket1.finalSeq, released.seq);
    expectEq("read limit 2", page.entries.length, 2);
    ok(`error-4003 close of an unknown ticket rejected in a batch of 4 (ticket, ticket, read answered): ${e.error.code} "${e.error.message}"`);
    ok(`ticket ethers-0 ${JSON.stringify(ticket)}`);
  }

  // 7. A uint64 above 2^53: sync to chain nonce 2^64-1, sent as a decimal
  // string (a JS number cannot hold it) and signed as a BigInt.
  const bigLineage = `eip155:${chainId}:0x000000000000000000000000000000000000dEaD`;
  const syncP = await sign({ lineage: bigLineage, chainNonce: MAX_UINT64.toString() }, KINDS.sync, { nonce: MAX_UINT64 });
  const synced = await answered("syncLineage 2^64-1", provider.send("sequencer_syncLineage", [syncP]));
  expectEq("sync kind", synced.kind, "sync");
  expectEq("sync sender", synced.sender, wallet.address);
  // ethers parsed the receipt with JSON.parse: the number is rounded.
  if (Number.isSafeInteger(synced.nonce) || BigInt(synced.nonce) === MAX_UINT64) fail(`sync nonce ${synced.nonce} came through ethers exactly?`);
  const raw = await rawCall("sequencer_read", [{ from: u64("seq", synced.seq), limit: 1 }]);
  const rawSync = raw.result.entries[0];
  expectEq("raw sync nonce", rawSync.nonce, MAX_UINT64);
  expectEq("raw sync hash", rawSync.hash, synced.hash);
  if (!raw.text.includes(`"nonce":${MAX_UINT64}`)) fail("raw body does not hold the nonce as a JSON number");
  ok(`big-nonce syncLineage chainNonce "${MAX_UINT64}" (string) accepted; ethers-parsed receipt nonce=${synced.nonce} (rounded), raw body nonce=${rawSync.nonce} via ${losslessMethod}`);

  // 8. The whole log: read through ethers (batched, lossy numbers) and
  // through fetch (lossless), and verify every entry.
  const head = u64("head", (await rawCall("sequencer_info", [])).result.head.seq);
  const all = [];
  for (let from = 1n; from <= head; from += 1000n) {
    all.push(...(await rawCall("sequencer_read", [{ from: from.toString(), limit: 1000 }])).result.entries);
  }
  expectEq("entries read", BigInt(all.length), head);
  const viaEthers = (await provider.send("sequencer_read", [{ from: 1, limit: 1000 }])).entries;
  expectEq("entries via ethers", viaEthers.length, all.length);
  const source = sabotage === "lossy-uint64" ? viaEthers : all;

  const counts = {};
  const txByTicket = new Map();
  let prevHash = ZeroHash, prevTs = 0n, lossy = 0;
  for (let i = 0; i < source.length; i++) {
    const e = source[i];
    const v = entryValue(e);
    expectEq(`entry ${i + 1} seq`, v.seq, BigInt(i + 1));
    expectEq(`seq ${v.seq} prevHash`, v.prevHash, prevHash);
    if (v.timestamp < prevTs) fail(`seq ${v.seq}: timestamp ${v.timestamp} < ${prevTs}`);
    expectEq(`seq ${v.seq} sender is EIP-55`, getAddress(v.sender), v.sender);
    const hash = TypedDataEncoder.hash(entryDomain, ENTRY_TYPES, v);
    if (hash !== e.hash) fail(`seq ${v.seq} hash mismatch: TypedDataEncoder.hash ${hash}, node ${e.hash} (domain ${JSON.stringify({ ...entryDomain, chainId: entryDomain.chainId.toString() })})`);
    const signer = verifyTypedData(entryDomain, ENTRY_TYPES, v, e.signature);
    expectEq(`seq ${v.seq} signer`, signer, expectedPrimary);
    // SPEC §2 field rules per kind.
    const key = `${e.lineage}\n${e.externalId}`;
    if (e.kind === "tx") {
      if (!isHexString(e.data)) fail(`seq ${v.seq}: tx without data`);
      expectEq(`seq ${v.seq} dataHash`, e.dataHash, keccak256(e.data));
      if (e.lineage !== "") txByTicket.set(key, e);
    } else {
      expectEq(`seq ${v.seq} data absent`, e.data, undefined);
      if (NODE_WRITTEN.has(e.kind)) expectEq(`seq ${v.seq} ${e.kind} sender (the primary)`, v.sender, expectedPrimary);
      if (e.kind === "sync") {
        expectEq(`seq ${v.seq} sync dataHash`, e.dataHash, ZeroHash);
        expectEq(`seq ${v.seq} sync externalId`, e.externalId, "");
      } else if (e.kind === "attempt" || e.kind === "confirm") {
        // dataHash is the transaction's hash; the nonce is the ticket's.
        const tx = txByTicket.get(key);
        if (!tx) fail(`seq ${v.seq}: ${e.kind} of a ticket with no tx entry`);
        if (e.dataHash === ZeroHash) fail(`seq ${v.seq}: ${e.kind} without a transaction hash`);
        expectEq(`seq ${v.seq} nonce (ticket's)`, v.nonce, u64("nonce", tx.nonce));
      } else if (e.kind === "reclaim") {
        // The final ticket that last held the nonce, or none.
        const tx = e.externalId === "" ? null : txByTicket.get(key);
        expectEq(`seq ${v.seq} reclaim dataHash`, e.dataHash, tx ? tx.hash : ZeroHash);
        if (tx) expectEq(`seq ${v.seq} reclaim nonce`, v.nonce, u64("nonce", tx.nonce));
      } else {
        const tx = txByTicket.get(key);
        if (!tx) fail(`seq ${v.seq}: ${e.kind} of a ticket with no tx entry`);
        expectEq(`seq ${v.seq} dataHash (leasing tx hash)`, e.dataHash, tx.hash);
        expectEq(`seq ${v.seq} nonce (ticket's)`, v.nonce, u64("nonce", tx.nonce));
      }
    }
    // A receipt seen earlier is the same entry.
    const r = byReceipt.get(e.hash);
    if (r) { expectEq(`seq ${v.seq} receipt seq`, u64("seq", r.seq), v.seq); byReceipt.delete(e.hash); }
    // What ethers' own JSON.parse made of the numbers.
    const ev = viaEthers[i];
    let note = "";
    for (const f of ["seq", "nonce", "timestamp"]) {
      if (!Number.isSafeInteger(ev[f])) {
        lossy++;
        let what;
        try {
          const h = TypedDataEncoder.hash(entryDomain, ENTRY_TYPES, { ...v, [f]: BigInt(ev[f]) });
          what = `hash would be ${h.slice(0, 10)}… (wrong)`;
        } catch (err) {
          what = `TypedDataEncoder throws ${err.code}: ${err.shortMessage}`;
        }
        note += ` [ethers JSON.parse ${f}=${ev[f]}, exact ${v[f]}: ${what}]`;
      }
    }
    counts[e.kind] = (counts[e.kind] ?? 0) + 1;
    ok(`entry seq=${v.seq} kind=${e.kind} nonce=${v.nonce} sender=${v.sender} hash=${hash} signer=${signer}${note}`);
    prevHash = e.hash;
    prevTs = v.timestamp;
  }
  if (byReceipt.size) fail(`${byReceipt.size} receipts not found in the log`);
  if (lossy === 0) fail("no entry has a uint64 above 2^53: the lossless path was not exercised");
  ok(`log ${all.length} entries (${Object.entries(counts).map(([k, n]) => `${k}:${n}`).join(" ")}) hash-chained, TypedDataEncoder.hash equal, verifyTypedData = ${expectedPrimary}; ${lossy} uint64 field(s) above 2^53 verified via the raw body`);

  // 6. The checkpoint of the tree (SPEC §10): signed by the primary over
  // Checkpoint(uint64 size,bytes32 root,uint64 timestamp) in the log's domain.
  const cp = await answered("sequencer_checkpoint", provider.send("sequencer_checkpoint", [{}]));
  const cpValue = { size: BigInt(cp.size), root: cp.root, timestamp: BigInt(cp.timestamp) };
  const cpSigner = verifyTypedData(entryDomain, CHECKPOINT_TYPES, cpValue, cp.signature);
  expectEq("checkpoint signer", cpSigner, expectedPrimary);
  expectEq("checkpoint size", cpValue.size, BigInt(all.length));
  ok(`checkpoint size=${cp.size} root=${cp.root} hash=${TypedDataEncoder.hash(entryDomain, CHECKPOINT_TYPES, cpValue)} signer=${cpSigner}`);
  provider.destroy();
}

main().catch((err) => {
  if (err instanceof CheckError) console.log("FAIL " + err.message);
  else console.log("FAIL unexpected: " + (err?.stack ?? err));
  process.exit(1);
});
