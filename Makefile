.PHONY: run test bench fuzz build vet

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
