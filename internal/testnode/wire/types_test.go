package wire

import (
	"encoding/json"
	"testing"
)

// The typed fields forgive the case of hex; Signed and DataText must not,
// or the crash and replication tests would stop comparing byte for byte.
func TestEntryKeepsItsWireText(t *testing.T) {
	lower := `{"seq":1,"hash":"0x00000000000000000000000000000000000000000000000000000000000000ab","kind":"tx","data":"0xab"}`
	upper := `{"seq":1,"hash":"0x00000000000000000000000000000000000000000000000000000000000000AB","kind":"tx","data":"0xAB"}`
	var a, b Entry
	if err := json.Unmarshal([]byte(lower), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(upper), &b); err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash || string(*a.Data) != string(*b.Data) {
		t.Fatal("the typed fields should decode both cases to one value")
	}
	if a.Signed() == b.Signed() {
		t.Fatal("Signed compares the hash as written")
	}
	da, _ := a.DataText()
	db, _ := b.DataText()
	if da != "0xab" || db != "0xAB" {
		t.Fatalf("DataText %q %q", da, db)
	}
	if string(a.Raw) != lower {
		t.Fatalf("Raw %s", a.Raw)
	}

	var r Read
	if err := json.Unmarshal([]byte(`{"entries":[`+lower+`,{"seq":2,"kind":"close","data":null}],"head":2}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Entries[0].Signed() != a.Signed() {
		t.Fatal("an entry inside a read keeps its text too")
	}
	if _, has := r.Entries[1].DataText(); has || r.Entries[1].Data != nil || r.Entries[1].IsExisting() {
		t.Fatal("null data is no data; a missing existing is false")
	}
}

func TestTicketEqualComparesFinalSeqByValue(t *testing.T) {
	one, alsoOne, two := uint64(1), uint64(1), uint64(2)
	a := Ticket{Lineage: "l", State: "closed", FinalSeq: &one}
	for _, c := range []struct {
		b    Ticket
		want bool
	}{
		{Ticket{Lineage: "l", State: "closed", FinalSeq: &alsoOne}, true},
		{Ticket{Lineage: "l", State: "closed", FinalSeq: &two}, false},
		{Ticket{Lineage: "l", State: "closed"}, false},
		{Ticket{Lineage: "l", State: "leased", FinalSeq: &one}, false},
	} {
		if got := a.Equal(&c.b); got != c.want {
			t.Errorf("%+v Equal %+v = %v", a, c.b, got)
		}
	}
}
