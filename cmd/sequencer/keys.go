package main

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/durable"
)

const devKeyFile = "dev-key.hex"

// loadKey finds the primary's signing key: a go-ethereum keystore file
// (with its password file), else PRIVATE_KEY (hex, 0x optional), else a
// development key kept in the datadir (made on first start).
func loadKey(keyFile, passwordFile, datadir string, log *slog.Logger) (*ecdsa.PrivateKey, error) {
	if keyFile != "" {
		if passwordFile == "" {
			return nil, errors.New("--key-file needs --password-file")
		}
		js, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		pw, err := os.ReadFile(passwordFile)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		k, err := keystore.DecryptKey(js, strings.TrimRight(string(pw), "\r\n"))
		if err != nil {
			return nil, fmt.Errorf("decrypt key file %s: %w", keyFile, err)
		}
		return k.PrivateKey, nil
	}
	if hexKey, ok := os.LookupEnv("PRIVATE_KEY"); ok && hexKey != "" {
		k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(hexKey), "0x"))
		if err != nil {
			// Never echo the value: it is a secret.
			return nil, errors.New("PRIVATE_KEY is not a valid hex secp256k1 key")
		}
		return k, nil
	}
	path := filepath.Join(datadir, devKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.HexToECDSA(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("development key %s is damaged", path)
		}
		log.Warn("using the development key in the datadir: not for production (use --key-file or PRIVATE_KEY)", "file", path)
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read development key: %w", err)
	}
	k, err := makeDevKey(durable.OS, path)
	if err != nil {
		return nil, err
	}
	log.Warn("made a development key in the datadir: not for production (use --key-file or PRIVATE_KEY)",
		"file", path, "address", crypto.PubkeyToAddress(k.PublicKey).Hex())
	return k, nil
}

// makeDevKey makes a development key and writes it to path durably (SPEC
// §5): once it returns, a power cut cannot take the log's signing key.
func makeDevKey(fsys durable.FS, path string) (*ecdsa.PrivateKey, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := durable.CreateFile(fsys, path, []byte(fmt.Sprintf("%x\n", crypto.FromECDSA(k))), 0o600); err != nil {
		return nil, fmt.Errorf("write development key: %w", err)
	}
	return k, nil
}
