package sequencer

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Sign signs hash with key and returns r‖s‖v with v in {27,28}, the form
// Solidity's ecrecover and eth_signTypedData_v4 use. secp256k1 signatures
// from go-ethereum are deterministic (RFC 6979).
func Sign(hash common.Hash, key *ecdsa.PrivateKey) ([65]byte, error) {
	var out [65]byte
	sig, err := crypto.Sign(hash[:], key)
	if err != nil {
		return out, fmt.Errorf("sign: %w", err)
	}
	copy(out[:], sig)
	out[64] += 27
	return out, nil
}

// Recover returns the address that signed hash. It accepts v in {27,28} and,
// for tolerance towards tools that emit it, {0,1}; it rejects malleable
// (high-s) signatures.
func Recover(hash common.Hash, sig []byte) (common.Address, error) {
	if len(sig) != 65 {
		return common.Address{}, fmt.Errorf("%w: length %d, want 65", errBadSignature, len(sig))
	}
	var s [65]byte
	copy(s[:], sig)
	v := s[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return common.Address{}, fmt.Errorf("%w: v = %d", errBadSignature, sig[64])
	}
	s[64] = v
	r, ss := new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:64])
	if !crypto.ValidateSignatureValues(v, r, ss, true) {
		return common.Address{}, fmt.Errorf("%w: r or s out of range", errBadSignature)
	}
	pub, err := crypto.Ecrecover(hash[:], s[:])
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", errBadSignature, err)
	}
	var addr common.Address
	copy(addr[:], crypto.Keccak256(pub[1:])[12:])
	return addr, nil
}
