package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedVectors: testdata/eip712.json is exactly what apitypes
// computes today (regenerate with `go run ./internal/vectorgen >
// testdata/eip712.json` if a deliberate change fails this).
func TestCommittedVectors(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "testdata", "eip712.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/eip712.json differs from what apitypes computes now: regenerate it with go run ./internal/vectorgen")
	}
}
