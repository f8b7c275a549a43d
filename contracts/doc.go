// Package contracts holds SequencerAccountability (SPEC §10), the contract
// that keeps a primary's bond and pays it to whoever proves that the primary
// signed two conflicting statements about its log, and records the
// checkpoints anchored on chain.
//
// The Solidity source is SequencerAccountability.sol; compile.mjs compiles
// it with the solc pinned in package.json into build/ (the committed ABI and
// bytecode, which TestCompiledMatchesSource rebuilds and compares), and
// accountability.go is the Go binding go-ethereum's abigen makes from them
// (TestBindingsMatchBuild regenerates and compares it).
package contracts

//go:generate go run github.com/ethereum/go-ethereum/cmd/abigen@v1.17.10 --abi build/SequencerAccountability.abi --bin build/SequencerAccountability.bin --pkg contracts --type SequencerAccountability --out accountability.go
