package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// What the crash test checks after each restart: every receipt resolved
// against the log, signatures, and the ticket state against a model.

// checkReceipt checks a receipt against the call that got it.
func checkReceipt(res *wire.Entry, c *crashCall) string {
	switch {
	case res.Kind != c.kind():
		return fmt.Sprintf("receipt of kind %q, want %q", res.Kind, c.kind())
	case res.Lineage != c.lineage || res.ExternalID != c.extID:
		return fmt.Sprintf("receipt names %q/%q", res.Lineage, res.ExternalID)
	case res.Data != nil:
		return "receipt carries data"
	case res.Seq == 0:
		return "receipt without seq"
	case c.kind() == "sync" && res.Nonce != c.chainNonce:
		return fmt.Sprintf("sync receipt nonce %d, reported %d", res.Nonce, c.chainNonce)
	case c.kind() == "tx" && res.Signed().DataHash != crypto.Keccak256Hash(c.data).Hex():
		return fmt.Sprintf("receipt dataHash %s, data hashes to %s", res.Signed().DataHash, crypto.Keccak256Hash(c.data).Hex())
	}
	return ""
}

type resolveStats struct{ inFlight, written, lost, noID int }

// resolve retries, on the restarted node, every call whose answer the kill
// took. Written before the kill, it must answer existing:true at the seq
// the log holds; not written, a new entry after the head at restart.
func (r *crashRun) resolve(node *testnode.Proc, head uint64) resolveStats {
	t := r.t
	t.Helper()
	st := resolveStats{inFlight: len(r.uncertain)}
	plain := map[string]uint64{}
	for _, e := range node.ReadAll() {
		if e.Kind == "tx" && e.Lineage == "" && e.ExternalID != "" {
			plain[e.ExternalID] = e.Seq
		}
	}
	for _, u := range r.uncertain {
		c := u.call
		if c.extID == "" {
			st.noID++ // nothing to retry by (sync, tx without id): an at-most-once call
			continue
		}
		var written bool
		var wantSeq uint64
		if c.lineage == "" {
			wantSeq, written = plain[c.extID]
		} else {
			var tk wire.Ticket
			err := node.Call(&tk, "sequencer_ticket", map[string]any{"lineage": c.lineage, "externalId": c.extID})
			switch {
			case wire.Code(err) == 4003 && c.kind() == "tx":
				// never leased: not written
			case err != nil:
				t.Fatalf("%v: sequencer_ticket: %v", c, err)
			default:
				before := map[string]string{"tx": "released", "close": "leased", "release": "leased", "fail": "leased"}[c.kind()]
				after := map[string]string{"tx": "leased", "close": "closed", "release": "released", "fail": "failed"}[c.kind()]
				switch tk.State {
				case after:
					written = true
					wantSeq = tk.Final()
					if c.kind() == "tx" {
						wantSeq = tk.LeaseSeq
					}
				case before:
				default:
					t.Fatalf("%v in flight at the kill: ticket is %+v", c, tk)
				}
			}
		}
		var res wire.Entry
		if err := node.Call(&res, c.method, c.params()); err != nil {
			t.Errorf("retry of %v after restart: %v", c, err)
			continue
		}
		if e := checkReceipt(&res, c); e != "" {
			t.Errorf("retry of %v: %s", c, e)
			continue
		}
		if written {
			st.written++
			if !res.IsExisting() || res.Seq != wantSeq || res.Seq > head {
				t.Errorf("retry of %v, written at seq %d before the kill (head %d): got seq %d existing %v", c, wantSeq, head, res.Seq, res.IsExisting())
			}
		} else {
			st.lost++
			if res.IsExisting() || res.Seq <= head {
				t.Errorf("retry of %v, not written before the kill (head %d): got seq %d existing %v", c, head, res.Seq, res.IsExisting())
			}
		}
		r.record(&res)
		switch c.kind() {
		case "tx":
			if c.lineage != "" {
				r.open = append(r.open, u.tk)
			}
		case "release":
			r.released = append(r.released, u.tk)
		}
	}
	r.uncertain = nil
	return st
}

var zeroHash = common.Hash{}.Hex()

// check reads the whole log and checks it: against itself (seq, chain,
// signatures, data), against every earlier read, against every receipt,
// and the served ticket state against a replay. It returns the log length.
func (r *crashRun) check(node *testnode.Proc) int {
	t := r.t
	t.Helper()
	entries := node.ReadAll()
	info := node.Info()
	if info.Head.Seq != uint64(len(entries)) || info.Halted || info.Primary != r.primary {
		t.Fatalf("info %+v, read %d entries", info, len(entries))
	}
	if len(entries) < len(r.seen) {
		t.Fatalf("the log shrank from %d to %d entries", len(r.seen), len(entries))
	}
	prevHash, prevTS := zeroHash, uint64(0)
	for i, e := range entries {
		s := e.Signed() // the text on the wire: compared byte for byte
		data, hasData := e.DataText()
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d of the log has seq %d", i+1, e.Seq)
		}
		if s.PrevHash != prevHash {
			t.Fatalf("seq %d: prevHash %s, entry before has hash %s", e.Seq, s.PrevHash, prevHash)
		}
		if e.Timestamp < prevTS {
			t.Fatalf("seq %d: timestamp %d before %d", e.Seq, e.Timestamp, prevTS)
		}
		if s.Sender != (common.Address{}).Hex() {
			t.Fatalf("seq %d: sender %s in open mode", e.Seq, s.Sender)
		}
		if err := checkSignature(s, r.primary); err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
		if (e.Kind == "tx") != hasData {
			t.Fatalf("seq %d: kind %s with data %q", e.Seq, e.Kind, data)
		}
		if hasData {
			d, err := hexutil.Decode(data)
			if err != nil || crypto.Keccak256Hash(d).Hex() != s.DataHash {
				t.Fatalf("seq %d: data does not hash to dataHash (%v)", e.Seq, err)
			}
		}
		if i < len(r.seen) {
			o := r.seen[i]
			if s != o.Signed() || !sameData(e, o) {
				t.Fatalf("seq %d changed across a restart:\nwas %+v\nnow %+v", e.Seq, o.Signed(), s)
			}
		}
		prevHash, prevTS = s.Hash, e.Timestamp
	}
	r.seen = entries
	for _, rc := range r.receipts {
		if rc.Seq > uint64(len(entries)) {
			t.Fatalf("receipt of seq %d, but the log ends at %d", rc.Seq, len(entries))
		}
		if got, want := entries[rc.Seq-1].Signed(), rc.Signed(); got != want {
			t.Fatalf("the log differs from a returned receipt:\nreceipt %+v\nlog     %+v", want, got)
		}
	}
	r.checkTickets(node, entries)
	return len(entries)
}

// sameData compares the data fields as written (or both absent).
func sameData(a, b *wire.Entry) bool {
	x, hasX := a.DataText()
	y, hasY := b.DataText()
	return hasX == hasY && x == y
}

func checkSignature(e wire.Signed, primary string) error {
	sig, err := hexutil.Decode(e.Signature)
	if err != nil || len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
		return fmt.Errorf("signature %s is not 65 bytes r‖s‖v with v in {27,28}", e.Signature)
	}
	h, err := hexutil.Decode(e.Hash)
	if err != nil || len(h) != 32 {
		return fmt.Errorf("hash %s", e.Hash)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(h, sig)
	if err != nil {
		return err
	}
	if a := crypto.PubkeyToAddress(*pub).Hex(); a != primary {
		return fmt.Errorf("signed by %s, not the primary %s", a, primary)
	}
	return nil
}

type modelTicket struct {
	nonce              uint64
	state              string
	leaseSeq, finalSeq uint64
	leaseHash          string
}

type modelLineage struct {
	next, floor    uint64
	pool           []uint64          // released nonces, ascending
	holder         map[uint64]string // nonce → externalId of the ticket holding it (leased, closed, failed)
	closed, failed uint64
}

// checkTickets replays the log with SPEC §3's rules, independently of the
// node's code, failing on a lease the rules do not give (above all a nonce
// leased while another ticket holds it), then compares every lineage and
// every ticket the node serves with the replay.
func (r *crashRun) checkTickets(node *testnode.Proc, entries []*wire.Entry) {
	t := r.t
	t.Helper()
	type key struct{ lineage, extID string }
	tickets := map[key]*modelTicket{}
	var keys []key
	lins := map[string]*modelLineage{}
	plain := map[string]uint64{}
	pool := 0
	for _, e := range entries {
		s := e.Signed()
		k := key{e.Lineage, e.ExternalID}
		if e.Kind == "tx" && e.Lineage == "" {
			if e.Nonce != 0 {
				t.Fatalf("seq %d: tx without lineage has nonce %d", e.Seq, e.Nonce)
			}
			if s, dup := plain[e.ExternalID]; dup && e.ExternalID != "" {
				t.Fatalf("seq %d: externalId %q sequenced twice (first at %d)", e.Seq, e.ExternalID, s)
			}
			plain[e.ExternalID] = e.Seq
			continue
		}
		l := lins[e.Lineage]
		if l == nil {
			l = &modelLineage{holder: map[uint64]string{}}
			lins[e.Lineage] = l
		}
		tk := tickets[k]
		switch e.Kind {
		case "tx":
			if tk != nil && tk.state != "released" {
				t.Fatalf("seq %d: second lease of ticket %s/%s, which is %s since seq %d", e.Seq, e.Lineage, e.ExternalID, tk.state, tk.leaseSeq)
			}
			if h, held := l.holder[e.Nonce]; held {
				t.Fatalf("seq %d: nonce %d of %s leased to %s while ticket %s holds it", e.Seq, e.Nonce, e.Lineage, e.ExternalID, h)
			}
			want := l.next
			if len(l.pool) > 0 {
				want = l.pool[0]
				l.pool = l.pool[1:]
				pool++
			} else {
				l.next++
			}
			if e.Nonce != want {
				t.Fatalf("seq %d: lease of nonce %d, the lease rule gives %d", e.Seq, e.Nonce, want)
			}
			l.holder[e.Nonce] = e.ExternalID
			if tk == nil {
				keys = append(keys, k)
			}
			tickets[k] = &modelTicket{nonce: e.Nonce, state: "leased", leaseSeq: e.Seq, leaseHash: s.Hash}
		case "close", "release", "fail":
			if tk == nil || tk.state != "leased" {
				t.Fatalf("seq %d: %s of ticket %s/%s that is not leased (%+v)", e.Seq, e.Kind, e.Lineage, e.ExternalID, tk)
			}
			if e.Nonce != tk.nonce || s.DataHash != tk.leaseHash {
				t.Fatalf("seq %d: %s names nonce %d / lease %s; the ticket has %d / %s", e.Seq, e.Kind, e.Nonce, s.DataHash, tk.nonce, tk.leaseHash)
			}
			tk.finalSeq = e.Seq
			switch e.Kind {
			case "close":
				tk.state = "closed"
				l.closed++
			case "release":
				tk.state = "released"
				delete(l.holder, tk.nonce)
				i, _ := slices.BinarySearch(l.pool, tk.nonce)
				l.pool = slices.Insert(l.pool, i, tk.nonce)
			case "fail":
				tk.state = "failed"
				l.failed++
			}
		case "sync": // SPEC §3: leases below the chain nonce are closed, the pool trimmed
			if e.ExternalID != "" || s.DataHash != (common.Hash{}).Hex() {
				t.Fatalf("seq %d: sync with externalId %q, dataHash %s", e.Seq, e.ExternalID, s.DataHash)
			}
			for n, id := range l.holder {
				if mt := tickets[key{e.Lineage, id}]; n < e.Nonce && mt.state == "leased" {
					mt.state, mt.finalSeq = "closed", e.Seq
					l.closed++
				}
			}
			l.pool = slices.DeleteFunc(l.pool, func(n uint64) bool { return n < e.Nonce })
			l.next, l.floor = max(l.next, e.Nonce), max(l.floor, e.Nonce)
		default:
			t.Fatalf("seq %d: kind %q, which the load never asks for", e.Seq, e.Kind)
		}
	}
	r.poolLeases = pool

	for name, l := range lins {
		var got wire.Lineage
		node.MustCall(&got, "sequencer_lineage", map[string]any{"lineage": name})
		var inFlight []string
		for _, f := range got.InFlight {
			inFlight = append(inFlight, fmt.Sprintf("%d:%s@%d", f.Nonce, f.ExternalID, f.Seq))
		}
		var want []string
		var nonces []uint64
		for n, id := range l.holder {
			if tk := tickets[key{name, id}]; tk.state == "leased" {
				nonces = append(nonces, n)
			}
		}
		slices.Sort(nonces)
		for _, n := range nonces {
			id := l.holder[n]
			want = append(want, fmt.Sprintf("%d:%s@%d", n, id, tickets[key{name, id}].leaseSeq))
		}
		if got.Lineage != name || got.NextNonce != l.next || got.Floor != l.floor || got.Closed != l.closed || got.Failed != l.failed ||
			!slices.Equal(inFlight, want) || !slices.Equal(got.Released, l.pool) {
			t.Fatalf("lineage %s served as %+v;\nreplay gives nextNonce %d floor %d closed %d failed %d inFlight %v released %v",
				name, got, l.next, l.floor, l.closed, l.failed, want, l.pool)
		}
	}

	const batch = 250
	for i := 0; i < len(keys); i += batch {
		ks := keys[i:min(i+batch, len(keys))]
		got := make([]wire.Ticket, len(ks))
		elems := make([]gethrpc.BatchElem, len(ks))
		for j, k := range ks {
			elems[j] = gethrpc.BatchElem{Method: "sequencer_ticket", Args: []any{map[string]any{"lineage": k.lineage, "externalId": k.extID}}, Result: &got[j]}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := node.Client.BatchCallContext(ctx, elems)
		cancel()
		if err != nil {
			t.Fatalf("sequencer_ticket batch: %v", err)
		}
		for j, k := range ks {
			m := tickets[k]
			g := got[j]
			if elems[j].Error != nil || g.Lineage != k.lineage || g.ExternalID != k.extID || g.Nonce != m.nonce ||
				g.State != m.state || g.LeaseSeq != m.leaseSeq || g.Final() != m.finalSeq {
				t.Fatalf("ticket %s/%s served as %+v (err %v); replay gives %+v", k.lineage, k.extID, g, elems[j].Error, *m)
			}
		}
	}
}
