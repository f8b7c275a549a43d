package chain

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

var (
	primary = common.HexToAddress("0x00000000000000000000000000000000000000aa")
	h1      = common.HexToHash("0x01")
	h2      = common.HexToHash("0x02")
	h3      = common.HexToHash("0x03")
	t0      = time.Unix(1_800_000_000, 0)
)

// show prints ops as "kind id nonce hash" lines, the way the tables read.
func show(ops []sequencer.Op) string {
	var b strings.Builder
	for _, op := range ops {
		if op.Sender != primary {
			return fmt.Sprintf("op %s with sender %s, not the primary", op.Kind, op.Sender)
		}
		switch op.Kind {
		case sequencer.KindConfirm:
			fmt.Fprintf(&b, "confirm %s %s;", op.ExternalID, op.DataHash.Hex()[64:])
		case sequencer.KindSync:
			fmt.Fprintf(&b, "sync %d;", op.ChainNonce)
		case sequencer.KindReclaim:
			fmt.Fprintf(&b, "reclaim %d %q;", op.ChainNonce, op.ExternalID)
		case sequencer.KindExpire:
			fmt.Fprintf(&b, "expire %s;", op.ExternalID)
		default:
			fmt.Fprintf(&b, "%s?;", op.Kind)
		}
	}
	return b.String()
}

// TestPlan is SPEC §9's table of what the watcher writes for one lineage
// after one reading of the chain.
func TestPlan(t *testing.T) {
	lin := func(next, floor uint64, inFlight []uint64, released ...uint64) *sequencer.Lineage {
		l := &sequencer.Lineage{Name: "L", NextNonce: next, Floor: floor, Released: released}
		for _, n := range inFlight {
			l.InFlight = append(l.InFlight, sequencer.InFlight{Nonce: n, ExternalID: fmt.Sprint("e", n)})
		}
		return l
	}
	lease := func(n uint64, attempts ...common.Hash) Lease {
		return Lease{ExternalID: fmt.Sprint("e", n), Nonce: n, Attempts: attempts}
	}
	holder := func(n uint64) string { return fmt.Sprint("final", n) }
	for _, tc := range []struct {
		name   string
		v      View
		o      Observation
		gap    time.Duration
		want   string
		lookup int
	}{
		{name: "nothing mined yet", v: View{Lineage: lin(2, 0, []uint64{0, 1}), Leases: []Lease{lease(0, h1), lease(1)}},
			o: Observation{ConfirmedNonce: 0, LatestNonce: 0}, want: ""},
		{name: "mined attempt confirmed, then the sync", v: View{Lineage: lin(2, 0, []uint64{0, 1}), Leases: []Lease{lease(0, h1), lease(1, h2)}},
			o: Observation{ConfirmedNonce: 1, LatestNonce: 2, Mined: map[common.Hash]bool{h1: true}}, want: "confirm e0 01;sync 1;", lookup: 1},
		{name: "fee bump: the second attempt mined", v: View{Lineage: lin(1, 0, []uint64{0}), Leases: []Lease{lease(0, h1, h2)}},
			o: Observation{ConfirmedNonce: 1, LatestNonce: 1, Mined: map[common.Hash]bool{h2: true}}, want: "confirm e0 02;sync 1;", lookup: 2},
		{name: "nonce used by a transaction the node does not know: the sync closes it",
			v: View{Lineage: lin(1, 0, []uint64{0}), Leases: []Lease{lease(0, h1)}},
			o: Observation{ConfirmedNonce: 1, LatestNonce: 1, Mined: map[common.Hash]bool{}}, want: "sync 1;", lookup: 1},
		{name: "account used outside the node: the sync raises nextNonce", v: View{Lineage: lin(3, 3, nil)},
			o: Observation{ConfirmedNonce: 5, LatestNonce: 5}, want: "sync 5;"},
		{name: "confirmed at the floor: nothing to write", v: View{Lineage: lin(3, 3, nil)},
			o: Observation{ConfirmedNonce: 3, LatestNonce: 3}, want: ""},
		{name: "a lease above the confirmed nonce is left alone", v: View{Lineage: lin(3, 1, []uint64{2}), Leases: []Lease{lease(2, h3)}},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 3, Mined: map[common.Hash]bool{h3: true}}, want: "sync 2;"},
		{name: "gap: the latest nonce stood past --gap-after, held by none", v: View{Lineage: lin(4, 2, []uint64{3}), Leases: []Lease{lease(3, h1)}, LastHolder: holder},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 2, LatestSince: t0.Add(-11 * time.Minute)}, gap: 10 * time.Minute, want: "reclaim 2 \"final2\";"},
		{name: "gap not stood long enough", v: View{Lineage: lin(4, 2, []uint64{3}), LastHolder: holder},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 2, LatestSince: t0.Add(-9 * time.Minute)}, gap: 10 * time.Minute, want: ""},
		{name: "gap held by a lease: its transaction may be pending", v: View{Lineage: lin(4, 2, []uint64{2, 3}), LastHolder: holder},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 2, LatestSince: t0.Add(-time.Hour)}, gap: 10 * time.Minute, want: ""},
		{name: "gap already pooled: the next lease fills it", v: View{Lineage: lin(4, 2, []uint64{3}, 2), LastHolder: holder},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 2, LatestSince: t0.Add(-time.Hour)}, gap: 10 * time.Minute, want: ""},
		{name: "no gap: the chain is at nextNonce", v: View{Lineage: lin(4, 4, nil), LastHolder: holder},
			o: Observation{ConfirmedNonce: 4, LatestNonce: 4, LatestSince: t0.Add(-time.Hour)}, gap: 10 * time.Minute, want: ""},
		{name: "--gap-after 0: never", v: View{Lineage: lin(4, 2, []uint64{3}), LastHolder: holder},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 2, LatestSince: t0.Add(-time.Hour)}, want: ""},
		{name: "sync and reclaim after it", v: View{Lineage: lin(4, 0, nil), LastHolder: holder},
			o: Observation{ConfirmedNonce: 2, LatestNonce: 2, LatestSince: t0.Add(-time.Hour)}, gap: time.Minute, want: "sync 2;reclaim 2 \"final2\";"},
		{name: "unknown lineage: a sync creates it", v: View{},
			o: Observation{ConfirmedNonce: 7, LatestNonce: 7}, want: "sync 7;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(Lookups(tc.v, tc.o.ConfirmedNonce)); got != tc.lookup {
				t.Errorf("lookups %d, want %d", got, tc.lookup)
			}
			got := show(Plan("L", tc.v, tc.o, t0, Policy{Primary: primary, GapAfter: tc.gap}))
			if got != tc.want {
				t.Fatalf("plan %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExpired(t *testing.T) {
	ms := uint64(t0.UnixMilli())
	leases := []Lease{
		{ExternalID: "old", Nonce: 0, LeasedAt: ms - 5000},
		{ExternalID: "old-attempted", Nonce: 1, LeasedAt: ms - 5000, Attempts: []common.Hash{h1}},
		{ExternalID: "young", Nonce: 2, LeasedAt: ms - 1000},
		{ExternalID: "exactly", Nonce: 3, LeasedAt: ms - 3000},
		{ExternalID: "future", Nonce: 4, LeasedAt: ms + 1000}, // a clock that went back
	}
	if got, want := show(Expired("L", leases, t0, 3*time.Second, primary)), "expire old;expire exactly;"; got != want {
		t.Fatalf("expired %q, want %q", got, want)
	}
	if got := Expired("L", leases, t0, 0, primary); got != nil {
		t.Fatalf("--lease-ttl 0 expired %d", len(got))
	}
}

func TestParseLineage(t *testing.T) {
	a := "0x52908400098527886E0F7030069857D2E4169EE7"
	for _, tc := range []struct {
		in string
		id uint64
		ok bool
	}{
		{"eip155:1:" + a, 1, true},
		{"eip155:1337:" + strings.ToLower(a), 1337, true},
		{"eip155:0:" + a, 0, false},
		{"eip155:01:" + a, 0, false},
		{"eip155:1:" + a[2:], 0, false},
		{"eip155:1:" + a + "0", 0, false},
		{"cosmos:1:" + a, 0, false},
		{"eip155:x:" + a, 0, false},
		{"L", 0, false},
	} {
		id, addr, ok := ParseLineage(tc.in)
		if ok != tc.ok || id != tc.id || (ok && addr != common.HexToAddress(a)) {
			t.Errorf("ParseLineage(%q) = %d %s %v", tc.in, id, addr, ok)
		}
	}
	eps, err := ParseEndpoints("1=https://a.example/k, 1337=ws://127.0.0.1:8546")
	if err != nil || len(eps) != 2 || eps[1337] != "ws://127.0.0.1:8546" {
		t.Fatalf("ParseEndpoints: %v %v", eps, err)
	}
	for _, bad := range []string{"1", "x=http://a", "1=ftp://a", "1=http://a,1=http://b", "0=http://a"} {
		if _, err := ParseEndpoints(bad); err == nil {
			t.Errorf("ParseEndpoints(%q) accepted", bad)
		}
	}
}
