package main

import (
	"crypto/ecdsa"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/seqnode/sequencer/sequencer"
)

// cmdKeygen makes a signing key: into a go-ethereum keystore file when
// --key-file is given (mode 0600, encrypted with --password-file), else
// printed as hex for PRIVATE_KEY.
func cmdKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key-file", "", "write an encrypted go-ethereum keystore file here")
	pwFile := fs.String("password-file", "", "file holding the keystore password")
	if code, ok := parseCommand(fs, args, stderr, "sequencer keygen"); !ok {
		return code
	}
	k, err := crypto.GenerateKey()
	if err != nil {
		fmt.Fprintln(stderr, "sequencer keygen:", err)
		return 1
	}
	addr := crypto.PubkeyToAddress(k.PublicKey)
	if *keyFile == "" {
		fmt.Fprintln(stderr, "No --key-file: printing the key. Keep it secret; prefer a keystore file in production.")
		fmt.Fprintf(stdout, "address: %s\nPRIVATE_KEY=0x%x\n", addr, crypto.FromECDSA(k))
		return 0
	}
	if *pwFile == "" {
		fmt.Fprintln(stderr, "sequencer keygen: --key-file needs --password-file")
		return 2
	}
	pw, err := os.ReadFile(*pwFile)
	if err != nil {
		fmt.Fprintln(stderr, "sequencer keygen:", err)
		return 1
	}
	// Never overwrite a key, and fail before the (deliberately slow)
	// scrypt if one is there; CreateFile checks again when it links.
	if _, err := os.Lstat(*keyFile); err == nil {
		fmt.Fprintf(stderr, "sequencer keygen: %s exists: not overwriting a key\n", *keyFile)
		return 1
	}
	err = writeKeystore(durable.OS, *keyFile, k, strings.TrimRight(string(pw), "\r\n"), keystore.StandardScryptN, keystore.StandardScryptP)
	if err != nil {
		fmt.Fprintln(stderr, "sequencer keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "address: %s\nkey file: %s\n", addr, *keyFile)
	return 0
}

// writeKeystore encrypts k into a go-ethereum keystore file at path, made
// durably with its directory (SPEC §5: temp file, fsync, link, fsync dir):
// go-ethereum's own keystore writer does not sync. It never replaces a file.
func writeKeystore(fsys durable.FS, path string, k *ecdsa.PrivateKey, password string, scryptN, scryptP int) error {
	id, err := uuid.NewRandom()
	if err != nil {
		return err
	}
	js, err := keystore.EncryptKey(&keystore.Key{Id: id, Address: crypto.PubkeyToAddress(k.PublicKey), PrivateKey: k}, password, scryptN, scryptP)
	if err != nil {
		return err
	}
	if err := durable.MkdirAll(fsys, filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return durable.CreateFile(fsys, path, js, 0o600)
}

// cmdVerify checks a stored log offline (SPEC §5) and exits non-zero on the
// first fault, naming it.
func cmdVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	datadir := fs.String("datadir", "./data", "datadir of the node (stop the node first)")
	if code, ok := parseCommand(fs, args, stderr, "sequencer verify"); !ok {
		return code
	}
	dir := filepath.Join(*datadir, "db")
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "sequencer verify: no log in %s: %v\n", *datadir, err)
		return 1
	}
	store, err := sequencer.OpenLevelStore(dir, true)
	if err != nil {
		fmt.Fprintf(stderr, "sequencer verify: FAULT: %v\n", err)
		return 1
	}
	defer store.Close()
	rep, err := sequencer.Verify(store)
	if err != nil {
		fmt.Fprintf(stderr, "sequencer verify: FAULT: %v\n", err)
		return 1
	}
	if rep.Recovered != "" {
		fmt.Fprintf(stdout, "note: at open, the store %s\n", rep.Recovered)
	}
	fmt.Fprintf(stdout, "ok: %d entries, head seq %d hash %s, signed by %s\n", rep.Entries, rep.Head.Seq, rep.Head.Hash, rep.Primary)
	return 0
}
