package rpc

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

type noQuorumAt string

func (e noQuorumAt) Error() string  { return "no leader answered" }
func (e noQuorumAt) Unwrap() error  { return sequencer.ErrNoQuorum }
func (e noQuorumAt) Leader() string { return string(e) }

// SPEC §4: 4010 NoQuorum, with {leader} when the voter knew one.
func TestNoQuorumCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		data any
	}{
		{noQuorumAt("v2"), map[string]string{"leader": "v2"}},
		{noQuorumAt(""), nil},
		{fmt.Errorf("%w: leadership lost", sequencer.ErrNoQuorum), nil},
	} {
		e, ok := toRPC(c.err, common.Address{}).(*Error)
		if !ok || e.Code != CodeNoQuorum || !reflect.DeepEqual(e.Data, c.data) {
			t.Fatalf("%v: %+v, want code %d data %v", c.err, e, CodeNoQuorum, c.data)
		}
	}
}
