package deploy

import (
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// compose.cluster.yaml runs a cluster that can form: every voter names the
// same voters in --cluster, by their service names, its own --node-id is
// one of them, it listens on its entry's port, and every flag of every
// service is one `sequencer run` has.
func TestComposeCluster(t *testing.T) {
	b, err := os.ReadFile("../compose.cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command []string `json:"command"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	flags := runFlags(t)
	var spec string
	var ids []string
	for name, s := range f.Services {
		if len(s.Command) == 0 || s.Command[0] != "run" {
			t.Fatalf("service %s: command %v, want run …", name, s.Command)
		}
		args := map[string]string{}
		for i := 1; i < len(s.Command); i++ {
			flag, ok := strings.CutPrefix(s.Command[i], "--")
			if !ok || !flags[flag] {
				t.Fatalf("service %s: %q is not a flag of sequencer run", name, s.Command[i])
			}
			if i+1 < len(s.Command) && !strings.HasPrefix(s.Command[i+1], "--") {
				args[flag] = s.Command[i+1]
				i++
			}
		}
		if args["cluster"] == "" {
			continue // the replica
		}
		if spec != "" && args["cluster"] != spec {
			t.Fatalf("service %s: --cluster %s, others %s", name, args["cluster"], spec)
		}
		spec = args["cluster"]
		id := args["node-id"]
		ids = append(ids, id)
		var mine string
		for _, m := range strings.Split(spec, ",") {
			if mid, addr, _ := strings.Cut(m, "="); mid == id {
				mine = addr
			}
		}
		if host, port, _ := strings.Cut(mine, ":"); host != name || !strings.HasSuffix(args["cluster-listen"], ":"+port) {
			t.Fatalf("service %s (--node-id %s): its --cluster entry %q must be its service name, on its --cluster-listen port (%s)", name, id, mine, args["cluster-listen"])
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != 3 || len(strings.Split(spec, ",")) != 3 {
		t.Fatalf("voters %v with --cluster %s: want 3 distinct voters, all in --cluster", ids, spec)
	}
}
