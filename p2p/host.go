package p2p

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/seqnode/sequencer/internal/durable"
)

const identityFile = "p2p-identity.key"

// loadIdentity reads the node's libp2p key from datadir, making it (mode
// 0600) on first start.
func loadIdentity(datadir string) (crypto.PrivKey, error) {
	path := filepath.Join(datadir, identityFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("p2p identity %s is damaged: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return makeIdentity(durable.OS, path)
}

// makeIdentity makes a libp2p key and writes it to path durably (SPEC §5).
func makeIdentity(fsys durable.FS, path string) (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := durable.CreateFile(fsys, path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write p2p identity: %w", err)
	}
	return k, nil
}

// newHost starts a TCP-only libp2p host on listen with the datadir identity.
func newHost(datadir, listen string) (host.Host, error) {
	key, err := loadIdentity(datadir)
	if err != nil {
		return nil, err
	}
	if _, err := ma.NewMultiaddr(listen); err != nil {
		return nil, fmt.Errorf("--p2p-addr %q: %w", listen, err)
	}
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	)
}

// FullAddrs are the host's listen multiaddrs ending in /p2p/<id>.
func FullAddrs(h host.Host) []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.ID().String())
	}
	return out
}

// ParsePeers parses comma-separated multiaddrs that end in /p2p/<id>.
func ParsePeers(list []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range list {
		if s == "" {
			continue
		}
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("peer %q: %w (want a multiaddr ending in /p2p/<peer id>)", s, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

func connect(ctx context.Context, h host.Host, ai peer.AddrInfo) error {
	if h.Network().Connectedness(ai.ID) == network.Connected {
		return nil
	}
	return h.Connect(ctx, ai)
}
