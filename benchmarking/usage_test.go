package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --help says what the tool does before it lists the flags.
func TestHelpSaysWhatItDoes(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	s := out.String()
	i, j := strings.Index(s, "Drives real sequencer nodes"), strings.Index(s, "-duration")
	if i < 0 || j < 0 || i > j || !strings.Contains(s, "benchmark-results.json") {
		t.Fatalf("--help does not describe the tool before the flags:\n%s", s)
	}
}

// The lower panel names a replica lag only when it draws one.
func TestPlotNamesOnlyWhatItDraws(t *testing.T) {
	r := &results{Series: []second{{T: 1, Dur: 1, Calls: 10, EntriesPS: 10, P99: 2}, {T: 2, Dur: 1, Calls: 10, EntriesPS: 12, P99: 3}}}
	r.Summary.Replicas = []replicaResult{{Name: "r1"}} // a replica without lag data
	svg := func() string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "p.svg")
		if err := writePlot(path, r); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if s := svg(); strings.Contains(s, "lag") {
		t.Fatal("the plot names a lag it has no data for")
	}
	r.Summary.Replicas[0].SeriesFromTS = []lagSecond{{T: 1, N: 5, P99: 4}, {T: 2, N: 5, P99: 5}}
	if s := svg(); !strings.Contains(s, "replica lag") || !strings.Contains(s, "replica r1 lag p99") {
		t.Fatal("the plot does not name the lag line it draws")
	}
}
