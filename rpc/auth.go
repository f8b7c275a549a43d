package rpc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

// MaxDeadlineAhead is how far in the future a Request deadline may be.
const MaxDeadlineAhead = time.Hour

// Allowlist is the set of addresses allowed to write. A nil Allowlist
// means open mode: anyone may write, and the sender is the zero address.
type Allowlist map[common.Address]struct{}

// ParseAllowlist reads addresses from comma-separated text (--allow).
func ParseAllowlist(csv string) (Allowlist, error) {
	a := Allowlist{}
	for _, f := range strings.Split(csv, ",") {
		if err := a.add(strings.TrimSpace(f)); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// ReadAllowlist reads one address per line; '#' starts a comment (--allow-file).
func ReadAllowlist(r io.Reader) (Allowlist, error) {
	a := Allowlist{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if err := a.add(strings.TrimSpace(line)); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	return a, sc.Err()
}

func (a Allowlist) add(s string) error {
	if s == "" {
		return nil
	}
	if !common.IsHexAddress(s) || !strings.HasPrefix(strings.ToLower(s), "0x") {
		return fmt.Errorf("%q is not an address", s)
	}
	a[common.HexToAddress(s)] = struct{}{}
	return nil
}

// authorize checks the signed Request of a write (SPEC §4) and returns the
// sender to record and the request's identity (its hash and deadline), by
// which the pipeline answers a repeat of it with the entry it wrote.
func (api *API) authorize(auth *Auth, req *sequencer.Request, h *sequencer.Hasher) (common.Address, sequencer.RequestID, error) {
	var none sequencer.RequestID
	if auth.From == nil || auth.Deadline == nil || auth.Signature == nil {
		return common.Address{}, none, unauthorized("from, deadline and signature are required")
	}
	if _, ok := api.cfg.Allow[*auth.From]; !ok {
		return common.Address{}, none, unauthorized("sender not allowed")
	}
	now := api.cfg.Now()
	dl := uint64(*auth.Deadline)
	if dl < uint64(now.Unix()) {
		return common.Address{}, none, unauthorized("deadline past")
	}
	if dl > uint64(now.Add(MaxDeadlineAhead).Unix()) {
		return common.Address{}, none, unauthorized("deadline more than one hour ahead")
	}
	req.Deadline = dl
	hash := h.RequestHash(req)
	signer, err := sequencer.Recover(hash, *auth.Signature)
	if err != nil || signer != *auth.From {
		return common.Address{}, none, unauthorized("bad signature")
	}
	return signer, sequencer.RequestID{Hash: hash, Deadline: dl}, nil
}
