package rpc

import (
	"context"

	"github.com/seqnode/sequencer/sequencer"
)

// MaxReadLimit is the most entries one sequencer_read returns.
const MaxReadLimit = 1000

// Read returns consecutive entries from `from`, or one lineage's entries
// with seq ≥ from (sequencer_read).
func (api *API) Read(ctx context.Context, p ReadParams) (*ReadResult, error) {
	res, err := readLog(ctx, api.reader, api.cfg.MaxReadBytes, p)
	if err != nil {
		return nil, api.fail(err)
	}
	return res, nil
}

// readLog answers a sequencer_read from st, within maxBytes of entries (and
// what is left of the batch's answer limit, if ctx carries one).
func readLog(ctx context.Context, st Reader, maxBytes int, p ReadParams) (*ReadResult, error) {
	newest := p.Latest != nil // over the byte limit, keep the newest entries
	if newest {
		if err := latest(st, &p); err != nil {
			return nil, err
		}
	}
	if p.From == nil {
		return nil, invalidParams("missing field from")
	}
	if *p.From < 1 {
		return nil, invalidParams("from must be at least 1")
	}
	limit := uint64(100)
	if p.Limit != nil {
		limit = uint64(*p.Limit)
	}
	if limit < 1 || limit > MaxReadLimit {
		return nil, invalidParams("limit must be 1-1000")
	}
	if p.Lineage != "" && !validLineage(p.Lineage) {
		return nil, invalidParams("lineage must be 1-128 bytes of [A-Za-z0-9:._/-]")
	}
	// SPEC §4: an answer holds at most MaxReadBytes of entries (at least
	// one); a batch's reads share the batch's answer limit.
	budget := int64(maxBytes)
	shared := readBudgetOf(ctx)
	if shared != nil {
		left := shared.left.Load()
		if left <= 0 {
			return nil, &Error{Code: codeResponseTooLarge, Message: msgResponseTooLarge + ": the reads of this request already fill its answer limit"}
		}
		budget = min(budget, left)
	}
	head := st.Head().Seq
	out := &ReadResult{Entries: []*EntryJSON{}, Head: head}
	var used int64
	var sizes []int64 // with newest: the size of each entry in out
	from := uint64(*p.From)
	const chunk = 32 // entries read from the store at a time
read:
	for uint64(len(out.Entries)) < limit {
		n := int(min(limit-uint64(len(out.Entries)), chunk))
		var es []*sequencer.Entry
		var err error
		if p.Lineage != "" {
			es, err = st.LineageRange(p.Lineage, from, n)
		} else {
			es, err = st.Range(from, n)
		}
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Seq > head { // written after we read the head: keep the answer consistent
				break read
			}
			size := entryJSONSize(e)
			for newest && len(out.Entries) > 0 && used+size > budget {
				used -= sizes[0] // drop the oldest: the answer ends at the head
				out.Entries[0] = nil
				out.Entries, sizes = out.Entries[1:], sizes[1:]
			}
			if len(out.Entries) > 0 && used+size > budget {
				break read
			}
			used += size
			out.Entries = append(out.Entries, entryJSON(e))
			if newest {
				sizes = append(sizes, size)
			}
			from = e.Seq + 1
		}
		if len(es) < n {
			break
		}
	}
	if shared != nil {
		shared.left.Add(-used)
	}
	return out, nil
}

// latest turns {latest: N} into the read of the log's last N entries:
// from = head-N+1 (at least 1), limit = N.
func latest(st Reader, p *ReadParams) error {
	switch {
	case p.From != nil:
		return invalidParams("give from or latest, not both")
	case p.Limit != nil:
		return invalidParams("give limit or latest, not both")
	case p.Lineage != "":
		return invalidParams("latest reads the whole log: leave out lineage")
	case *p.Latest < 1 || *p.Latest > MaxReadLimit:
		return invalidParams("latest must be 1-1000")
	}
	n := uint64(*p.Latest)
	from := Uint64(1)
	if head := st.Head().Seq; head > n {
		from = Uint64(head - n + 1)
	}
	limit := Uint64(n)
	p.From, p.Limit = &from, &limit
	return nil
}

// entryJSONSize is the size of an entry's JSON in an answer, a few bytes
// over: hex doubles the data, and the fixed fields take about 640 bytes.
func entryJSONSize(e *sequencer.Entry) int64 {
	return int64(2*len(e.Data) + len(e.Lineage) + len(e.ExternalID) + 700)
}
