package sequencer

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/ethereum/go-ethereum/common"
)

// The rules of SPEC §3, and the precedence of §4 where it decides between
// errors, as scripts: testdata/*.txt hold one op per line and, below it, the
// entry it writes or the answer it gets, as etcd raft's scenarios do. Run
// with -rewrite to regenerate the expected answers, then read the diff
// against SPEC: the files are the specification, not a record of whatever
// the code printed.
//
// The commands:
//
//	reset [max-in-flight=N]       a fresh, empty log (N defaults to 64)
//	tx|close|release|fail|sync lineage=L id=X data=D nonce=C
//	                              one op; release is sequencer_release with
//	                              reason "rejected", fail with "broadcast";
//	                              nonce is sync's chain nonce (a number,
//	                              max or max-N)
//	apply KIND lineage= id= nonce= dataHash=
//	                              hand the state a forged entry at the next
//	                              seq, as a replica would get one
//	ticket lineage=L id=X         the ticket, or "no ticket"
//	lineage L                     the lineage, or "no lineage"
//	plain X                       the tx without lineage named X
//	lineages                      how many lineages there are
//	mark / since-mark             remember the state; say whether it changed
//
// Hashes print as what they are: keccak(D) for the hash of data D, hash(N)
// for the hash of entry N (a lease, when a close names it), 0 for zero.
//
// After every command the driver checks what holds for every answer: Decide
// gives exactly one of a new entry, an existing seq or an error; Apply
// accepts the entry Decide made; the sender is the caller's; TicketFinal
// carries the ticket as it is; a refused forged entry leaves the state as it
// was; and the state is what a replay of the log gives (SPEC §3: "derived
// from the log alone").
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			sc := newScenario()
			datadriven.RunTest(t, path, sc.run)
		})
	}
}

// scCore is what the scenarios need of the core: a Core (the state and its
// head) and the log it was derived from.
type scCore struct {
	c   *Core
	log []*Entry
}

func newSCCore() *scCore {
	return &scCore{c: NewCore(testDomain(), NewState(), Head{}, 64)}
}

// state is the ticket state at the head.
func (c *scCore) state() *State { return c.c.State() }

// setMaxInFlight changes the --max-in-flight limit from the next op on.
func (c *scCore) setMaxInFlight(n int) {
	c.c = NewCore(testDomain(), c.c.State(), c.c.Head(), n)
}

// step is the one place the scenarios turn an op into an answer and, for a
// new entry, a chained entry in the log: the pipeline's own Core.Step.
func (c *scCore) step(op Op) (Decision, error) {
	dec, err := c.c.Step(&op, 1_700_000_000_000+c.c.Head().Seq+1)
	if err != nil {
		return dec, fmt.Errorf("Decide and Apply disagree: %w", err)
	}
	if dec.New != nil {
		c.log = append(c.log, dec.New)
	}
	return dec, nil
}

// apply hands the core an entry that no Decide made, chained at the next
// seq as a replica would receive it (Core.Follow). An accepted entry joins
// the log; a refusal is the rules' own message.
func (c *scCore) apply(e *Entry) error {
	h := c.c.Head()
	e.Seq, e.PrevHash, e.Timestamp = h.Seq+1, h.Hash, 1_700_000_000_000+h.Seq+1
	e.Hash = NewHasher(testDomain()).EntryHash(e)
	if err := c.c.Follow(e); err != nil {
		if !errors.Is(err, ErrRejected) {
			return err // refused before the rules (an unknown kind)
		}
		// The rules' own message, without Follow's ErrRejected prefix.
		return errors.New(strings.TrimPrefix(err.Error(), ErrRejected.Error()+": "))
	}
	c.log = append(c.log, e)
	return nil
}

type scenario struct {
	core  *scCore
	datas map[common.Hash]string // the data of every keccak(D) named so far
	mark  *State
}

func newScenario() *scenario {
	return &scenario{core: newSCCore(), datas: map[common.Hash]string{}}
}

func (sc *scenario) run(t *testing.T, td *datadriven.TestData) string {
	out := sc.command(t, td)
	r := stReplay(t, sc.core.log)
	if err := sc.core.state().Diff(r); err != nil {
		td.Fatalf(t, "after this command the state differs from a replay of its log: %v", err)
	}
	return out
}

func (sc *scenario) command(t *testing.T, td *datadriven.TestData) string {
	c := sc.core
	switch td.Cmd {
	case "reset":
		max := 64
		td.MaybeScanArgs(t, "max-in-flight", &max)
		*sc = *newScenario()
		sc.core.setMaxInFlight(max)
		return ""
	case "limit":
		// The node restarted with another --max-in-flight.
		var max int
		td.ScanArgs(t, "max-in-flight", &max)
		sc.core.setMaxInFlight(max)
		return ""
	case "tx", "close", "release", "fail", "sync", "attempt", "confirm", "expire", "reclaim":
		return sc.op(t, td)
	case "apply":
		return sc.forged(t, td)
	case "ticket":
		var lineage, id string
		td.ScanArgs(t, "lineage", &lineage)
		td.ScanArgs(t, "id", &id)
		tk, ok := c.state().Ticket(lineage, id)
		if !ok {
			return "no ticket"
		}
		return sc.ticket(tk)
	case "lineage":
		name := sc.positional(t, td)
		l, ok := c.state().Lineage(name)
		if !ok {
			return "no lineage"
		}
		return sc.lineage(l)
	case "plain":
		id := sc.positional(t, td)
		p, ok := c.state().Plain(id)
		if !ok {
			return "no plain tx"
		}
		return fmt.Sprintf("plain %s seq=%d dataHash=%s", id, p.Seq, sc.hash(p.DataHash))
	case "lineages":
		return strconv.Itoa(c.state().LineageCount())
	case "mark":
		sc.mark = stReplay(t, c.log)
		return ""
	case "since-mark":
		if sc.mark == nil {
			td.Fatalf(t, "since-mark without mark")
		}
		if err := c.state().Diff(sc.mark); err != nil {
			return "changed: " + err.Error()
		}
		return "unchanged"
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

func (sc *scenario) positional(t *testing.T, td *datadriven.TestData) string {
	if len(td.CmdArgs) != 1 || len(td.CmdArgs[0].Vals) != 0 {
		td.Fatalf(t, "%s takes one name", td.Cmd)
	}
	return td.CmdArgs[0].Key
}

// op runs one op and prints the new entry, the existing one that answers
// it, or the error.
func (sc *scenario) op(t *testing.T, td *datadriven.TestData) string {
	kind, ok := ParseKind(td.Cmd)
	if !ok {
		td.Fatalf(t, "unknown kind %q", td.Cmd)
	}
	op := Op{Kind: kind, Sender: stSender}
	td.MaybeScanArgs(t, "lineage", &op.Lineage)
	td.MaybeScanArgs(t, "id", &op.ExternalID)
	var data string
	if td.MaybeScanArgs(t, "data", &data) {
		op.Data, op.DataHash = []byte(data), sc.keccak(data)
	}
	if arg, ok := td.Arg("nonce"); ok {
		op.ChainNonce = sc.number(t, td, arg.SingleVal(t))
	}
	var tx string
	if td.MaybeScanArgs(t, "tx", &tx) { // attempt, confirm: the transaction's hash
		op.DataHash = sc.keccak(tx)
	}
	c := sc.core
	dec, err := c.step(op)
	if err != nil {
		td.Fatalf(t, "%v", err)
	}
	n := 0
	for _, set := range []bool{dec.New != nil, dec.ExistingSeq != 0, dec.Err != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		td.Fatalf(t, "Decide = %+v: want exactly one of New, Existing, Err", dec)
	}
	switch {
	case dec.New != nil:
		if dec.New.Sender != op.Sender {
			td.Fatalf(t, "entry sender %s, the caller is %s", dec.New.Sender, op.Sender)
		}
		return "new " + sc.entry(dec.New)
	case dec.ExistingSeq != 0:
		if dec.ExistingSeq > uint64(len(c.log)) {
			td.Fatalf(t, "existing seq %d past the head %d", dec.ExistingSeq, len(c.log))
		}
		return "existing " + sc.entry(c.log[dec.ExistingSeq-1])
	}
	return sc.err(t, td, op, dec.Err)
}

// forged builds the entry of an apply command and says whether the state
// takes it; a refused entry must leave the state unchanged.
func (sc *scenario) forged(t *testing.T, td *datadriven.TestData) string {
	if len(td.CmdArgs) == 0 || len(td.CmdArgs[0].Vals) != 0 {
		td.Fatalf(t, "apply needs a kind first")
	}
	e := &Entry{Sender: stSender}
	switch k := td.CmdArgs[0].Key; k {
	case "kind9":
		e.Kind = Kind(9)
	default:
		kind, ok := ParseKind(k)
		if !ok {
			td.Fatalf(t, "unknown kind %q", k)
		}
		e.Kind = kind
	}
	td.MaybeScanArgs(t, "lineage", &e.Lineage)
	td.MaybeScanArgs(t, "id", &e.ExternalID)
	if arg, ok := td.Arg("nonce"); ok {
		e.Nonce = sc.number(t, td, arg.SingleVal(t))
	}
	if arg, ok := td.Arg("dataHash"); ok {
		e.DataHash = sc.parseHash(t, td, arg.SingleVal(t))
	}
	if d, ok := sc.datas[e.DataHash]; ok && e.Kind == KindTx {
		e.Data = []byte(d) // a tx carries the data its dataHash names
	}
	before := stReplay(t, sc.core.log)
	if err := sc.core.apply(e); err != nil {
		if err := sc.core.state().Diff(before); err != nil {
			td.Fatalf(t, "a refused entry changed the state: %v", err)
		}
		return "rejected: " + sc.names(err.Error())
	}
	return "applied " + sc.entry(e)
}

// scCodes names the errors of the rules as SPEC §4 does.
var scCodes = []struct {
	err  error
	name string
}{
	{ErrInvalidParams, "InvalidParams -32602"},
	{ErrNotFound, "NotFound 4003"},
	{ErrTicketFinal, "TicketFinal 4004"},
	{ErrTooManyInFlight, "TooManyInFlight 4005"},
	{ErrExternalIDConfl, "ExternalIdConflict 4008"},
}

func (sc *scenario) err(t *testing.T, td *datadriven.TestData, op Op, err error) string {
	name := "unnamed"
	for _, c := range scCodes {
		if errors.Is(err, c.err) {
			name = c.name
			break
		}
	}
	out := fmt.Sprintf("error %s: %s", name, sc.names(err.Error()))
	var te *TicketError
	if errors.As(err, &te) {
		cur, ok := sc.core.state().Ticket(op.Lineage, op.ExternalID)
		if !ok || !cur.Equal(&te.Ticket) {
			td.Fatalf(t, "TicketFinal carries %+v, the ticket is %+v", te.Ticket, cur)
		}
		out += "\ndata: " + sc.ticket(te.Ticket)
	}
	var le *LimitError
	if errors.As(err, &le) {
		out += fmt.Sprintf("\ndata: limit=%d", le.Limit)
	}
	return out
}

// entry prints the fields SPEC §2 fixes per kind: the chaining fields
// (prevHash, timestamp, hash) are the driver's, not the rules'.
func (sc *scenario) entry(e *Entry) string {
	s := fmt.Sprintf("%d: %s lineage=%s id=%s nonce=%s dataHash=%s", e.Seq, e.Kind, scWord(e.Lineage),
		scWord(e.ExternalID), scNumber(e.Nonce), sc.hash(e.DataHash))
	if e.Kind == KindTx || len(e.Data) > 0 {
		s += " data=" + scWord(string(e.Data))
	}
	return s
}

func (sc *scenario) ticket(tk Ticket) string {
	s := fmt.Sprintf("ticket %s/%s nonce=%s %s leaseSeq=%d finalSeq=%d dataHash=%s leaseHash=%s",
		tk.Lineage, tk.ExternalID, scNumber(tk.Nonce), tk.State, tk.LeaseSeq, tk.FinalSeq, sc.hash(tk.DataHash), sc.hash(tk.LeaseHash))
	if len(tk.Attempts) > 0 {
		var as []string
		for _, a := range tk.Attempts {
			as = append(as, fmt.Sprintf("%s@%d", sc.hash(a.TxHash), a.Seq))
		}
		s += " attempts=[" + strings.Join(as, " ") + "]"
	}
	if tk.MinedTx != (common.Hash{}) {
		s += " minedTx=" + sc.hash(tk.MinedTx)
	}
	return s
}

func (sc *scenario) lineage(l Lineage) string {
	var fl, rel []string
	for _, f := range l.InFlight {
		fl = append(fl, fmt.Sprintf("%s:%s@%d", scNumber(f.Nonce), f.ExternalID, f.Seq))
	}
	for _, n := range l.Released {
		rel = append(rel, scNumber(n))
	}
	return fmt.Sprintf("lineage %s nextNonce=%s floor=%s inFlight=[%s] released=[%s] closed=%d failed=%d",
		l.Name, scNumber(l.NextNonce), scNumber(l.Floor), strings.Join(fl, " "), strings.Join(rel, " "), l.Closed, l.Failed)
}

func (sc *scenario) keccak(data string) common.Hash {
	h := stData(data)
	sc.datas[h] = data
	return h
}

// hash names a hash by what it is, so that the files say which lease a
// close names or which data a ticket holds.
func (sc *scenario) hash(h common.Hash) string {
	if h == (common.Hash{}) {
		return "0"
	}
	if d, ok := sc.datas[h]; ok {
		return "keccak(" + d + ")"
	}
	for _, e := range sc.core.log {
		if e.Hash == h {
			return fmt.Sprintf("hash(%d)", e.Seq)
		}
	}
	return h.Hex()
}

var scHex = regexp.MustCompile(`0x[0-9a-f]{64}`)

// names replaces the hashes in a message by their names.
func (sc *scenario) names(msg string) string {
	return scHex.ReplaceAllStringFunc(msg, func(h string) string { return sc.hash(common.HexToHash(h)) })
}

func (sc *scenario) parseHash(t *testing.T, td *datadriven.TestData, s string) common.Hash {
	switch {
	case s == "0":
		return common.Hash{}
	case strings.HasPrefix(s, "keccak(") && strings.HasSuffix(s, ")"):
		return sc.keccak(s[len("keccak(") : len(s)-1])
	case strings.HasPrefix(s, "hash(") && strings.HasSuffix(s, ")"):
		seq, err := strconv.ParseUint(s[len("hash("):len(s)-1], 10, 64)
		if err != nil || seq == 0 || seq > uint64(len(sc.core.log)) {
			td.Fatalf(t, "no entry %s", s)
		}
		return sc.core.log[seq-1].Hash
	}
	td.Fatalf(t, "bad hash %q: want 0, keccak(D) or hash(N)", s)
	return common.Hash{}
}

// number reads a nonce: decimal, max (2^64-1) or max-N.
func (sc *scenario) number(t *testing.T, td *datadriven.TestData, s string) uint64 {
	if s == "max" {
		return math.MaxUint64
	}
	if rest, ok := strings.CutPrefix(s, "max-"); ok {
		if n, err := strconv.ParseUint(rest, 10, 64); err == nil {
			return math.MaxUint64 - n
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		td.Fatalf(t, "bad number %q", s)
	}
	return n
}

// scNumber prints the nonces near 2^64-1 as the files write them.
func scNumber(n uint64) string {
	if d := math.MaxUint64 - n; d < 1000 {
		if d == 0 {
			return "max"
		}
		return fmt.Sprintf("max-%d", d)
	}
	return strconv.FormatUint(n, 10)
}

// scWord prints an empty string as "" so that an absent field shows.
func scWord(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
