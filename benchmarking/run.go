package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/sequencer"
)

// bench is one run: its nodes, its clients, and what it measured. Its
// phases are setup, load, settle and summarize; close undoes setup.
type bench struct {
	cfg *config
	out io.Writer
	res *results
	key *ecdsa.PrivateKey // signed mode

	fleet
	info    *nodeInfo // the primary just before the load
	watches []*watcher
	cancels []context.CancelFunc // of the watchers

	receipts *receiptLog
	rec      *recorder
	st       loadStats
	target   uint64      // the primary's head after the load
	want     common.Hash // and its hash
	// Samples around the load.
	before, afterLoad  []procResult
	metrics0, metrics1 map[string]float64
	clientCPU          time.Duration
	chain0             map[string]float64 // the watcher's metrics before the load (--watch-chain)
}

func (c *config) out() configOut {
	return configOut{
		DurationSec: c.Duration.Seconds(), Count: c.Count, Conns: c.Conns, Batch: c.Batch, Payload: c.Payload,
		Lineages: c.Lineages, LineageShare: c.LineageShare, CloseShare: c.CloseShare, ReleaseShare: c.ReleaseShare,
		MaxInFlight: c.MaxInFlight, Signed: c.Signed, Rate: c.Rate, Replicas: c.Replicas, LateReplica: c.LateReplica,
		NodeBin: c.NodeBin, RPC: c.RPC, ReplicaRPC: c.ReplicaRPC, GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		Cluster: c.Cluster, Failover: c.Failover, WatchChain: c.WatchChain, ChainNames: c.ChainNames, ChainBlockMs: c.ChainBlock.Milliseconds(),
		WebSocket: c.WebSocket,
	}
}

func (c *config) mode() string {
	if c.Rate > 0 {
		return "open loop"
	}
	return "closed loop"
}

// transport is how the clients reach the nodes.
func (c *config) transport() string {
	if c.WebSocket {
		return "WebSocket"
	}
	return "HTTP"
}

// run is one benchmark: set up (or reach) the nodes, drive the load,
// measure, report, and clean up (also when ctx ends early).
func run(ctx context.Context, cfg *config, out io.Writer) (*results, error) {
	b := &bench{cfg: cfg, out: out, res: &results{Config: cfg.out(), Started: time.Now().UTC()}}
	defer b.close()
	// Before any node runs, so that the machine is as quiet as it gets.
	if c, err := calibrate(20, 200); err != nil {
		fmt.Fprintf(out, "calibration failed: %v\n", err)
	} else {
		b.res.Summary.Calibration = &c
	}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	if err := b.load(ctx); err != nil {
		return nil, err
	}
	if err := b.settle(ctx); err != nil {
		return nil, err
	}
	b.summarize()
	return b.res, b.report()
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// setup starts the nodes (or checks the given ones), waits until the
// replicas are connected, and subscribes to their entries.
func (b *bench) setup(ctx context.Context) error {
	cfg, res := b.cfg, b.res
	if cfg.Signed {
		var err error
		if b.key, err = crypto.HexToECDSA(strings.TrimPrefix(cfg.ClientKey, "0x")); err != nil {
			return fmt.Errorf("--client-key: %w", err)
		}
		res.Target.Client = crypto.PubkeyToAddress(b.key.PublicKey).Hex()
		fmt.Fprintf(b.out, "signing every write as %s\n", res.Target.Client)
	}

	if err := b.reach(ctx, cfg, b.out, res); err != nil {
		return err
	}
	var err error
	if b.info, err = getInfo(ctx, b.pc); err != nil {
		return err
	}
	res.Target.RPC, res.Target.Version, res.Target.Primary, res.Target.StartHead =
		b.primaryURL, b.info.Version, b.info.Primary.Hex(), b.info.Head.Seq

	// Every entry from the current head on is timed on every replica.
	from := b.info.Head.Seq + 1
	b.receipts = newReceiptLog(from)
	for i, u := range b.replicaURLs {
		wctx, cancel := context.WithCancel(context.Background())
		b.closers = append(b.closers, cancel)
		w, err := startWatcher(wctx, fmt.Sprintf("r%d", i+1), u, from)
		if err != nil {
			return err
		}
		b.watches, b.cancels = append(b.watches, w), append(b.cancels, cancel)
	}
	return nil
}

// load drives the primary, printing a progress line every second.
func (b *bench) load(ctx context.Context) error {
	cfg := b.cfg
	domain := sequencer.Domain{ChainID: b.info.ChainID, VerifyingContract: b.info.VerifyingContract}
	wl := newWorkload(cfg)
	forecast(cfg, b.out)
	urls := b.writeURLs
	if cfg.WebSocket {
		urls = make([]string, len(b.writeURLs))
		for i, u := range b.writeURLs {
			urls[i] = "ws" + strings.TrimPrefix(u, "http")
		}
	}
	clients, tr, err := newClients(ctx, urls, cfg.Conns, domain, b.key)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, func() {
		for _, c := range clients {
			c.Disconnect()
		}
		tr.CloseIdleConnections()
	})

	what := fmt.Sprintf("for %v", cfg.Duration)
	if cfg.Count > 0 {
		what = fmt.Sprintf("for %s calls", thousands(cfg.Count))
	}
	if cfg.Rate > 0 {
		what += fmt.Sprintf(" at %s entries/s offered", thousands(int64(cfg.Rate)))
	}
	fmt.Fprintf(b.out, "driving %s: %s, %d conns, batch %d, %s (head %d)\n",
		b.primaryURL, cfg.mode()+" over "+cfg.transport(), cfg.Conns, cfg.Batch, what, b.info.Head.Seq)

	b.before = sampleAll(b.nodes())
	b.metrics0, _ = scrape(ctx, b.primaryURL, "sequencer_")
	if b.chain != nil {
		b.chain0 = b.chainMetrics(ctx)
	}
	cpu0 := selfCPU()
	start := time.Now()
	b.rec = newRecorder(start, b.receipts)
	d := &driver{cfg: cfg, w: wl, rec: b.rec, clients: clients}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.progress(stop)
	}()
	var fo chan *failoverOut
	if cfg.Failover > 0 {
		fo = make(chan *failoverOut, 1)
		go func() { fo <- b.failover(ctx, start, cfg.Failover, cfg.Duration) }()
	}
	b.st = d.run(ctx, start)
	if fo != nil {
		b.res.Summary.Failover = <-fo
	}
	close(stop)
	wg.Wait()
	if last := b.rec.cut(b.st.End); last.Dur > 0 {
		fmt.Fprintln(b.out, progressLine(last, nil))
	}
	b.clientCPU = selfCPU() - cpu0
	b.afterLoad = sampleAll(b.nodes())
	b.metrics1, _ = scrape(context.Background(), b.primaryURL, "sequencer_")
	if b.chain != nil {
		b.res.Summary.Watcher = watcherDelta(b.chain0, b.chainMetrics(context.Background()))
	}
	b.res.Interrupted = b.st.Interrupted
	return nil
}

// progress prints a line every second until stop is closed.
func (b *bench) progress(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			s := b.rec.cut(now)
			var live []replicaLive
			for _, w := range b.watches {
				lags, behind := w.live(b.receipts, now)
				l := summarize(lags)
				live = append(live, replicaLive{name: w.name, p99: l.P99, n: l.N, behind: behind})
			}
			fmt.Fprintln(b.out, progressLine(s, live))
		}
	}
}

// settle waits for the replicas to reach the primary's head, matches
// their arrivals with the receipts, and runs the late replica.
func (b *bench) settle(ctx context.Context) error {
	cfg := b.cfg
	post, cancel := context.WithTimeout(context.Background(), cfg.Wait+30*time.Second)
	defer cancel()
	endInfo, err := b.endHead(post)
	if err != nil {
		return fmt.Errorf("after the load: %w", err)
	}
	b.target, b.want = endInfo.Head.Seq, endInfo.Head.Hash
	b.res.Target.EndHead = b.target

	conv := make([]convergence, len(b.watches))
	if !b.st.Interrupted && len(b.watches) > 0 {
		fmt.Fprintf(b.out, "load done; waiting up to %v for the replicas to reach head %d\n", cfg.Wait, b.target)
		deadline := time.Now().Add(cfg.Wait)
		var wg sync.WaitGroup
		for i := range b.watches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conv[i] = waitConverged(post, b.repClients[i], b.target, b.want, b.st.End, deadline)
				if conv[i].ok {
					b.watches[i].waitFor(post, b.target, deadline)
				}
			}()
		}
		wg.Wait()
	}
	snap := b.receipts.snapshot()
	for i, w := range b.watches {
		rr := w.finish(snap, b.st.Start, b.cancels[i])
		rr.Converged, rr.Head = conv[i].ok, conv[i].head
		switch {
		case conv[i].ok:
			rr.ConvergedAfterMs = ms(int64(conv[i].after))
		case b.st.Interrupted:
			rr.Note = strings.TrimPrefix(rr.Note+"; convergence not checked: interrupted", "; ")
		case conv[i].note != "":
			rr.Note = strings.TrimPrefix(rr.Note+"; "+conv[i].note, "; ")
		}
		b.res.Summary.Replicas = append(b.res.Summary.Replicas, rr)
	}

	if cfg.LateReplica && !b.st.Interrupted && ctx.Err() == nil {
		fmt.Fprintf(b.out, "starting a late replica to catch up %d entries\n", b.target)
		lr, err := runLateReplica(ctx, b.cl, b.replicaArgs, childEnv(), b.target, b.want, cfg.Wait)
		if err != nil {
			return fmt.Errorf("late replica: %w", err)
		}
		if c := b.res.Summary.Calibration; c != nil && c.RecoverUs > 0 && lr.CPUUsPerEntry > 0 {
			lr.PerRecover = round(lr.CPUUsPerEntry/c.RecoverUs, 2)
		}
		b.res.Summary.LateReplica = &lr
	}
	return nil
}

// nodes are the child processes so far (none with --rpc).
func (b *bench) nodes() []*node {
	if b.cl == nil {
		return nil
	}
	return b.cl.nodes
}

// summarize fills in the summary from what was measured.
func (b *bench) summarize() {
	cfg, st := b.cfg, &b.st
	s := &b.res.Summary
	loadSec := st.End.Sub(st.Start).Seconds()
	s.Mode, s.LoadSec = cfg.mode(), round(loadSec, 3)
	b.rec.mu.Lock()
	s.Counts = b.rec.total
	s.Latency = summarize(b.rec.all)
	s.ErrorExamples = b.rec.examples
	b.res.Series = b.rec.series
	b.rec.mu.Unlock()
	if loadSec > 0 {
		s.EntriesPerSec = round(float64(s.Counts.Entries)/loadSec, 1)
	}
	s.LatencyFrom = "actual send"
	if cfg.Rate > 0 {
		s.LatencyFrom = "scheduled send"
		s.OpenLoop = &openLoopOut{OfferedPerSec: cfg.Rate, Scheduled: st.Scheduled, Sent: st.Sent,
			NotSent: st.Scheduled - st.Sent, SendDelay: st.SendDelay}
	}
	s.LineageFull, s.LeftLeased, s.Retried = st.LineageFull, st.LeftLeased, st.Retried
	s.ClientCPUSec = round(b.clientCPU.Seconds(), 2)
	s.Pipeline = pipelineDelta(b.metrics0, b.metrics1)

	nodes := b.nodes() // now with the late replica
	end := sampleAll(nodes)
	for i, n := range nodes {
		ns := nodeStats{Name: n.name, Role: n.role, PID: n.pid()}
		if e := end[i]; e.err == nil {
			ns.CPUSecTotal, ns.MaxRSSMiB = round(e.CPU.Seconds(), 2), round(float64(e.MaxRSSkB)/1024, 1)
		} else {
			ns.Note = e.err.Error()
		}
		switch {
		case i >= len(b.before):
			ns.Note = "started after the load"
		case b.before[i].PID != b.afterLoad[i].PID || b.afterLoad[i].PID != n.pid():
			ns.Note = "restarted during the load (failover): CPU not comparable"
		case b.before[i].err == nil && b.afterLoad[i].err == nil:
			cpu := round((b.afterLoad[i].CPU - b.before[i].CPU).Seconds(), 2)
			ns.CPUSecLoad = &cpu
			if loadSec > 0 {
				cores := round(cpu/loadSec, 2)
				ns.CoresLoad = &cores
			}
			if s.Counts.Entries > 0 {
				us := round(cpu*1e6/float64(s.Counts.Entries), 1)
				ns.CPUUsPerEntry = &us
				if c := s.Calibration; c != nil && c.SignUs > 0 {
					ratio := round(us/c.SignUs, 2)
					ns.PerSignature = &ratio
					ns.Work, ns.PerWork = perWork(us, n.role, cfg.Signed, c)
					if c.SignAllCoresUs > 0 {
						all := round(us/c.SignAllCoresUs, 2)
						ns.PerSignatureAllCores = &all
					}
				}
			}
		}
		s.Nodes = append(s.Nodes, ns)
	}
}

// report prints the summary and writes the JSON and the plot.
func (b *bench) report() error {
	cfg, res := b.cfg, b.res
	printSummary(b.out, res)
	if n := res.Summary.LineageFull; n > 0 {
		fmt.Fprintf(b.out, "\nwarning: %s leases went without lineage because every lineage had %d tickets in flight; raise --lineages or --close-share\n",
			thousands(n), cfg.MaxInFlight)
	}
	if cfg.Out != "" {
		if err := writeJSON(cfg.Out, res); err != nil {
			return fmt.Errorf("write %s: %w", cfg.Out, err)
		}
		fmt.Fprintln(b.out, "\nwrote", cfg.Out)
	}
	if cfg.Plot != "" && len(res.Series) > 0 {
		if err := writePlot(cfg.Plot, res); err != nil {
			return fmt.Errorf("plot %s: %w", cfg.Plot, err)
		}
		fmt.Fprintln(b.out, "wrote", cfg.Plot)
	}
	return nil
}

type procResult struct {
	procSample
	PID int
	err error
}

func sampleAll(nodes []*node) []procResult {
	out := make([]procResult, len(nodes))
	for i, n := range nodes {
		out[i].PID = n.pid()
		out[i].procSample, out[i].err = readProc(out[i].PID)
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// forecast says when the mix would fill every lineage up to
// --max-in-flight with tickets it leaves leased on purpose.
func forecast(cfg *config, out io.Writer) {
	per := cfg.leftLeasedPerEntry()
	if per <= 0 {
		return
	}
	f := cfg.CloseShare + cfg.ReleaseShare
	// Tickets waiting for their close or release take room too: about one
	// round of batches' worth.
	pending := float64(cfg.Conns*cfg.Batch) * cfg.LineageShare * f / (1 + cfg.LineageShare*f)
	room := float64(cfg.Lineages*cfg.MaxInFlight) - pending
	capacity := math.Max(0, room/per)
	fmt.Fprintf(out, "mix: %.3f tickets stay leased per call; %d lineages × %d in flight fill up after ≈%s calls\n",
		per, cfg.Lineages, cfg.MaxInFlight, thousands(int64(capacity)))
	expected := float64(cfg.Count)
	if expected == 0 && cfg.Rate > 0 {
		expected = cfg.Rate * cfg.Duration.Seconds()
	}
	if room <= 0 || expected > capacity {
		fmt.Fprintln(out, "warning: this mix can fill every lineage up to --max-in-flight; then leases go without lineage (counted as lineageFull); raise --lineages or --close-share")
	}
}

// fleet is the nodes a run drives, started here (a cluster) or reached
// (--rpc), and the control clients that talk to them; closers undo it.
type fleet struct {
	cl          *cluster // nil with --rpc
	replicaArgs []string // how to start one more replica
	primaryURL  string
	voters      []*node  // --cluster: the voters (primaryURL is the first's)
	writeURLs   []string // where the load goes: the primary, or every voter
	replicaURLs []string
	chain       *simchain.Chain // --watch-chain
	pc          *rpc.Client     // control calls to the primary
	repClients  []*rpc.Client   // control calls to the replicas
	closers     []func()
}

// reach starts the nodes (or checks the given ones) and waits until the
// replicas are connected.
func (b *fleet) reach(ctx context.Context, cfg *config, out io.Writer, res *results) error {
	b.primaryURL, b.replicaURLs = cfg.RPC, cfg.ReplicaRPC
	if cfg.RPC == "" {
		cl, err := newCluster(ctx, cfg.NodeBin, out)
		if err != nil {
			return err
		}
		b.cl = cl
		res.Target.NodeBin = cl.bin
		if sum, err := binarySum(cl.bin); err == nil {
			res.Target.NodeSHA = sum
			fmt.Fprintf(out, "node binary sha256 %s\n", sum[:16])
		}
		b.closers = append(b.closers, func() {
			fmt.Fprintln(out, "stopping the nodes and removing", cl.tmp)
			cl.close()
		})
		args := append([]string{"--max-in-flight", strconv.Itoa(cfg.MaxInFlight)}, cfg.NodeArgs...)
		if cfg.WatchChain {
			ch, err := simchain.Start(cfg.ChainBlock)
			if err != nil {
				return fmt.Errorf("simulated chain: %w", err)
			}
			b.chain = ch
			b.closers = append(b.closers, ch.Close)
			fmt.Fprintf(out, "simulated chain %d at %s, a block every %v\n", simchain.ChainID, ch.URL, cfg.ChainBlock)
			args = append(args, "--chain-rpc", fmt.Sprintf("%d=%s", simchain.ChainID, ch.URL), "--confirmations", "2",
				"--chain-poll", cfg.ChainBlock.String())
		}
		if cfg.Signed {
			args = append(args, "--allow", res.Target.Client)
		}
		env := childEnv("PRIVATE_KEY=" + benchPrimaryKeyHex)
		if cfg.Cluster > 0 {
			if b.voters, err = cl.startVoters(ctx, cfg.Cluster, args, env); err != nil {
				return err
			}
			b.primaryURL = b.voters[0].url()
			for _, v := range b.voters {
				b.writeURLs = append(b.writeURLs, v.url())
			}
		} else {
			p, err := cl.start(ctx, "primary", "primary", args, env)
			if err != nil {
				return err
			}
			b.primaryURL = p.url()
		}
	}
	if len(b.writeURLs) == 0 {
		b.writeURLs = []string{b.primaryURL}
	}
	pc, err := rpc.DialOptions(ctx, b.primaryURL)
	if err != nil {
		return fmt.Errorf("dial %s: %w", b.primaryURL, err)
	}
	b.pc = pc
	b.closers = append(b.closers, pc.Close)
	info, err := getInfo(ctx, pc)
	if err != nil {
		return fmt.Errorf("%s: %w", b.primaryURL, err)
	}
	if info.Role != "primary" {
		return fmt.Errorf("%s is a %s, not a primary", b.primaryURL, info.Role)
	}

	if b.cl != nil && cfg.Replicas+btoi(cfg.LateReplica) > 0 {
		if len(info.P2P) == 0 {
			return errors.New("the primary reports no p2p address")
		}
		peers := info.P2P[0]
		for _, v := range b.voters[min(1, len(b.voters)):] {
			vi, err := getInfoURL(ctx, v.url())
			if err != nil || len(vi.P2P) == 0 {
				return fmt.Errorf("voter %s reports no p2p address: %v", v.name, err)
			}
			peers += "," + vi.P2P[0]
		}
		b.replicaArgs = append([]string{"--primary", info.Primary.Hex(), "--peers", peers}, cfg.NodeArgs...)
		for i := 1; i <= cfg.Replicas; i++ {
			n, err := b.cl.start(ctx, fmt.Sprintf("r%d", i), "replica", b.replicaArgs, childEnv())
			if err != nil {
				return err
			}
			b.replicaURLs = append(b.replicaURLs, n.url())
		}
	}
	for _, u := range b.replicaURLs {
		c, err := rpc.DialOptions(ctx, u)
		if err != nil {
			return fmt.Errorf("dial %s: %w", u, err)
		}
		b.closers = append(b.closers, c.Close)
		ri, err := getInfo(ctx, c)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		if ri.Role != "replica" || ri.Primary != info.Primary {
			return fmt.Errorf("%s is a %s of %s, not a replica of %s", u, ri.Role, ri.Primary, info.Primary)
		}
		b.repClients = append(b.repClients, c)
	}
	if b.cl != nil && len(b.repClients) > 0 {
		if err := waitPeers(ctx, pc, b.repClients, len(b.repClients), 20*time.Second); err != nil {
			return err
		}
		fmt.Fprintln(out, "replicas connected; waiting 1 s for the GossipSub mesh to form")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}

	return nil
}

// endHead is the log's head after the load. On a cluster it is read once
// every voter holds the same head: a voter restarted by --failover may
// still be catching up, and a write committed just before a kill may be
// applied after the load ended (in one CI run the replica ended 6
// entries past the head the first voter had given).
func (b *bench) endHead(ctx context.Context) (*nodeInfo, error) {
	if len(b.voters) == 0 {
		return getInfo(ctx, b.pc)
	}
	deadline := time.Now().Add(b.cfg.Wait)
	for {
		var first *nodeInfo
		same := true
		for _, v := range b.voters {
			in, err := getInfoURL(ctx, v.url())
			if err != nil || (first != nil && in.Head != first.Head) {
				same = false
				break
			}
			if first == nil {
				first = in
			}
		}
		if same && first != nil {
			return first, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the voters did not reach one head")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// perWork names the cryptography a node of role cannot skip per entry and
// divides us (its CPU per entry) by that work's calibrated cost.
func perWork(us float64, role string, signed bool, c *calibration) (string, *float64) {
	work, cost := "signature", c.SignUs
	switch {
	case role == "replica":
		work, cost = "ecrecover", c.RecoverUs
	case signed:
		work, cost = "signature + ecrecover", c.SignUs+c.RecoverUs
	}
	if cost <= 0 {
		return "", nil
	}
	r := round(us/cost, 2)
	return work, &r
}
