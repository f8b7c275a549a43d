.PHONY: run test bench fuzz build vet contracts

run:
	go run ./cmd/sequencer

build:
	go build -o bin/sequencer ./cmd/sequencer

test:
	go vet ./... && go test -race -count=1 ./...

bench:
	go test -run '^$$' -bench . -benchtime 3s -count 3 ./sequencer/

fuzz:
	go test -run '^$$' -fuzz FuzzEntryRecord -fuzztime 60s ./sequencer/
	go test -run '^$$' -fuzz FuzzDerivedRecords -fuzztime 60s ./sequencer/

vet:
	go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Recompile SequencerAccountability.sol with the pinned solc (npm) and
# regenerate its Go binding with abigen; TestCompiledMatchesSource and
# TestBindingsMatchBuild check both are up to date.
contracts:
	cd contracts && npm ci --no-audit --no-fund --ignore-scripts && node compile.mjs build
	go generate ./contracts
