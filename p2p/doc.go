// Package p2p replicates a log over libp2p (SPEC §6): a GossipSub topic per
// log on which the primary publishes durable entries in batches, and a
// request/response protocol that serves ranges of stored entries so any node
// catches up from any peer. Gossip is the fast path; its losses are repaired
// by the sync protocol, never by waiting for more traffic.
//
// A replica's Follower keeps its Mirror in step: one loop owns the mirror
// and applies gossip; the fetches of a catch-up or a repair run in jobs the
// loop starts, hand their entries to it, and are waited for when it stops.
// What a node does with its peers (a primary's recovery and guard) is
// decided in package node; p2p offers the means: FetchMissing, EachHead,
// DialPeers.
//
// A node keeps its libp2p identity key in its datadir, so its peer id and
// multiaddr are stable across restarts.
//
// What a peer can make a node do is bounded: the sync server has a slot
// bound, per-peer stream, request-rate and byte-rate limits and a stream
// deadline (synclimit.go); gossip senders are scored, and graylisted after
// two invalid messages or frames GossipSub refuses unread (gossipwatch.go);
// replays of stored entries are ignored after one store read. The values
// are listed in docs/guarantees.md, "Network limits".
package p2p
