package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
)

// The container image without a container engine: the Dockerfile's own
// build command, then the binary alone in an otherwise empty root file
// system (what the distroless static image adds is /etc/passwd and
// certificates; the engine adds /etc/hosts), run as the image's non-root
// user 65532. Building without the race detector and static takes a minute
// on a cold cache, so the test runs only with SEQUENCER_IMAGE_TEST=1
// (.ci/run sets it, after the other tests) and as root (chroot).

// dockerfileBuild returns the go build command of the Dockerfile's build
// stage, continuation lines joined.
func dockerfileBuild(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(b), "\\\n", " ")
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=\S+ go build .*)$`).FindStringSubmatch(joined)
	if m == nil {
		t.Fatal("no RUN ... go build line in the Dockerfile")
	}
	return m[1]
}

// TestImageLikeRootfs: the static binary starts as uid 65532 in a root with
// nothing but itself, serves a primary, and a replica that finds the primary
// through a /dns4 multiaddr (as compose.yaml's replicas do) mirrors its log.
func TestImageLikeRootfs(t *testing.T) {
	if os.Getenv("SEQUENCER_IMAGE_TEST") != "1" {
		t.Skip("set SEQUENCER_IMAGE_TEST=1 (a static build, about a minute cold)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot)")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	bin := filepath.Join(root, "usr/local/bin/sequencer")
	build := strings.Replace(dockerfileBuild(t), "-o /out/sequencer", "-o "+bin, 1)
	if !strings.Contains(build, bin) {
		t.Fatalf("build command without -o /out/sequencer: %s", build)
	}
	cmd := exec.Command("sh", "-c", build)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil || !strings.Contains(string(hosts), "localhost") {
		hosts = []byte("127.0.0.1 localhost\n")
	}
	for dir, mode := range map[string]os.FileMode{"etc": 0o755, "tmp": 0o1777, "data/p": 0o700, "data/r": 0o700} {
		if err := os.MkdirAll(filepath.Join(root, dir), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "etc/hosts"), hosts, 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644)
	for _, d := range []string{"data", "data/p", "data/r"} {
		os.Chown(filepath.Join(root, d), 65532, 65532)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 4 { // etc, tmp, data, usr
		t.Fatalf("root holds %d entries", len(entries))
	}

	start := func(env []string, args ...string) *testnode.Proc {
		t.Helper()
		addr := testnode.FreeAddr(t)
		c := exec.Command("/usr/local/bin/sequencer", append(args, "--rpc-addr", addr)...)
		c.Env = env
		c.Dir = "/data"
		c.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		p := testnode.StartProc(t, c)
		if err := p.WaitHealthy(addr, 60*time.Second); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, testnode.Tail(p.Stderr(), 4000))
		}
		p.Addr, p.Client = addr, testnode.DialRPC(t, addr)
		return p
	}
	p2p := p2pPort(t)
	primary := start([]string{"PRIVATE_KEY=" + testnode.TestKeyHex}, "run", "--datadir", "/data/p", "--p2p-addr", p2p)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(primary.Cmd.Process.Pid) + "/status")
	if err != nil || !regexp.MustCompile(`(?m)^Uid:\s+65532\s`).Match(status) {
		t.Fatalf("primary does not run as 65532: %v\n%s", err, status)
	}
	full := p2pAddr(primary)
	id := full[strings.Index(full, "/p2p/"):]
	port := strings.TrimPrefix(p2p, "/ip4/127.0.0.1")
	replica := start(nil, "run", "--mode", "replica", "--primary", testnode.KeyAddress(t, testnode.TestKeyHex).Hex(),
		"--peers", "/dns4/localhost"+port+id, "--datadir", "/data/r", "--p2p-addr", p2pPort(t))

	var rcpt struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	primary.MustCall(&rcpt, "sequencer_append", map[string]any{"data": "0x0102", "externalId": "image-1"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got struct {
			Entries []struct {
				Hash string `json:"hash"`
			} `json:"entries"`
		}
		replica.MustCall(&got, "sequencer_read", map[string]any{"from": rcpt.Seq, "limit": 1})
		if len(got.Entries) == 1 && got.Entries[0].Hash == rcpt.Hash {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica did not mirror seq %d within 30 s; its log:\n%s", rcpt.Seq, testnode.Tail(replica.Stderr(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []*testnode.Proc{replica, primary} {
		if code := p.Term(30 * time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM:\n%s", code, testnode.Tail(p.Stderr(), 4000))
		}
	}
	fi, err := os.Stat(filepath.Join(root, "data/p/db"))
	if st, ok := fi.Sys().(*syscall.Stat_t); err != nil || !ok || st.Uid != 65532 {
		t.Fatalf("datadir not owned by 65532: %v", err)
	}
}
