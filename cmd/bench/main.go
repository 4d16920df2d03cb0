// Command bench is `make bench`: it runs whole monitor runs of the real
// bootstrap binary (through the Lambda Runtime API) against kumo behind a proxy
// that adds a round-trip latency to every AWS call, and a simulated fleet whose
// endpoints answer after a set latency. For fleets of several sizes it prints the
// wall time of a first and of steady-state runs beside their floor, the
// function's CPU time and peak memory, and the AWS calls by operation.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/runtimeapi"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

type options struct {
	bootstrap   string
	fleets      []int
	checkDelay  time.Duration
	awsDelay    time.Duration
	changeShare float64
	concurrency int
	cacheTTL    string
}

func main() {
	var o options
	var fleets string
	flag.StringVar(&o.bootstrap, "bootstrap", ".build/local/bootstrap", "the function binary")
	flag.StringVar(&fleets, "fleets", "10,100,1000", "fleet sizes")
	flag.DurationVar(&o.checkDelay, "check-latency", 100*time.Millisecond, "latency of each ProGet endpoint")
	flag.DurationVar(&o.awsDelay, "aws-latency", 20*time.Millisecond, "round trip added to every AWS call")
	flag.Float64Var(&o.changeShare, "change", 0.05, "share of instances that change state in the changing run")
	flag.IntVar(&o.concurrency, "concurrency", 0, "MAX_CONCURRENCY (0: the function's default)")
	flag.StringVar(&o.cacheTTL, "targets-cache", "10m", "TARGETS_CACHE_TTL for the steady-state runs")
	flag.Parse()
	for f := range strings.SplitSeq(fleets, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: bad fleet size %q\n", f)
			os.Exit(2)
		}
		o.fleets = append(o.fleets, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// measurement is one invocation.
type measurement struct {
	fleet    int
	run      string
	wall     time.Duration
	floor    time.Duration
	cpu      time.Duration
	rssMB    float64
	calls    map[string]int
	summary  monitor.Summary
	coldMs   float64
	conc     int
	floorNow time.Duration // the floor at this concurrency: ceil(N/conc) waves of checks
}

func run(o options) error {
	info, err := os.Stat(o.bootstrap)
	if err != nil {
		return fmt.Errorf("%w (make build-local builds it)", err)
	}
	fmt.Printf("proget-monitor benchmark: %s/%s, %d cores, Go %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("bootstrap %s: %.1f MB; ProGet endpoints answer after %s; every AWS call takes %s more\n\n",
		o.bootstrap, float64(info.Size())/1e6, o.checkDelay, o.awsDelay)

	var all []measurement
	for _, n := range o.fleets {
		ms, err := bench(o, n)
		if err != nil {
			return fmt.Errorf("fleet of %d: %w", n, err)
		}
		all = append(all, ms...)
	}
	printTable(all, o)
	return nil
}

// bench measures one fleet size: a first run (every instance new), a run where
// a share of the instances changes, and a run where nothing changes.
func bench(o options, n int) ([]measurement, error) {
	ctx := context.Background()
	stack := localaws.Start()
	defer stack.Close()
	cfg, err := stack.Config(ctx)
	if err != nil {
		return nil, err
	}
	table, path := fmt.Sprintf("bench-%d", n), fmt.Sprintf("/bench-%d/", n)
	if err := store.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		return nil, err
	}
	queue, err := localaws.NewAlertQueue(ctx, cfg, table)
	if err != nil {
		return nil, err
	}
	fleet, err := startFleet(n, o.checkDelay)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, in := range fleet {
			in.Stop()
		}
	}()
	if err := putTargets(ctx, ssm.NewFromConfig(cfg), path, fleet); err != nil {
		return nil, err
	}

	env := append(stack.Env(), "STATE_TABLE="+table, "ALERT_TOPIC_ARN="+queue.TopicARN, "TARGETS_PATH="+path,
		"METRICS_NAMESPACE=Bench", "TARGETS_CACHE_TTL="+o.cacheTTL, "LOG_LEVEL=warn")
	if o.concurrency > 0 {
		env = append(env, "MAX_CONCURRENCY="+strconv.Itoa(o.concurrency))
	}
	fn, err := runtimeapi.StartFunction(o.bootstrap, env, io.Discard)
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	cold, err := fn.WaitReady(ctx)
	if err != nil {
		return nil, err
	}
	conc := o.concurrency
	if conc == 0 {
		conc = monitor.DefaultMaxConcurrency
	}
	stack.SetLatency(o.awsDelay)

	var out []measurement
	measure := func(name string) error {
		stack.ResetCalls()
		cpu0 := cpuTime(fn.PID())
		start := time.Now()
		res, err := fn.Invoke(ctx, []byte(`{}`), 5*time.Minute)
		wall := time.Since(start)
		if err != nil {
			return err
		}
		if res.Err != nil {
			return fmt.Errorf("%s run failed: %v", name, res.Err)
		}
		m := measurement{fleet: n, run: name, wall: wall, cpu: cpuTime(fn.PID()) - cpu0, rssMB: peakRSS(fn.PID()),
			calls: stack.Calls(), coldMs: float64(cold.Microseconds()) / 1000, conc: conc}
		if err := json.Unmarshal(res.Payload, &m.summary); err != nil {
			return err
		}
		m.floor, m.floorNow = floors(m, o, n)
		out = append(out, m)
		_, err = queue.Receive(ctx) // keep the queue empty; not part of the run
		return err
	}
	if err := measure("first"); err != nil {
		return nil, err
	}
	changing := max(1, int(math.Round(float64(n)*o.changeShare)))
	for _, in := range fleet[:changing] {
		in.SetDatabaseError("bench: database unreachable")
	}
	if err := measure(fmt.Sprintf("%d changed", changing)); err != nil {
		return nil, err
	}
	if err := measure("steady"); err != nil {
		return nil, err
	}
	return out, nil
}

// floors is the least a run could take: reading SSM page after page, then the
// slowest check (the state is read meanwhile), then the AWS round trips that
// cannot overlap (storing and alerting a change, then metrics); and the same
// with the checks in waves of MAX_CONCURRENCY.
func floors(m measurement, o options, n int) (time.Duration, time.Duration) {
	seq := m.calls["ssm.GetParametersByPath"] // pages follow each other
	if m.calls["dynamodb.PutItem"] > 0 {
		seq++ // the claim
	}
	if m.calls["sns.Publish"] > 0 {
		seq += 2 // the publish, then recording it
	}
	seq++ // PutMetricData (calls go in parallel)
	rts := time.Duration(seq) * o.awsDelay
	waves := (n + m.conc - 1) / m.conc
	checks := func(w int) time.Duration { return max(time.Duration(w)*o.checkDelay, o.awsDelay) } // BatchGetItem overlaps
	return checks(1) + rts, checks(waves) + rts
}

func startFleet(n int, latency time.Duration) ([]*progetsim.Instance, error) {
	fleet := make([]*progetsim.Instance, n)
	for i := range fleet {
		in := progetsim.New(progetsim.V2023)
		in.SetAPIKey(fmt.Sprintf("bench-key-%d", i))
		in.SetConnectors(
			progetsim.Connector{ID: 1, Name: "nuget.org", State: "healthy"},
			progetsim.Connector{ID: 2, Name: "npmjs.org", State: "healthy"},
			progetsim.Connector{ID: 3, Name: "pypi.org", State: "healthy"},
		)
		in.SetLatency(latency)
		if err := in.Start(); err != nil {
			return nil, err
		}
		fleet[i] = in
	}
	return fleet, nil
}

func putTargets(ctx context.Context, c *ssm.Client, path string, fleet []*progetsim.Instance) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(fleet))
	sem := make(chan struct{}, 16)
	for i, in := range fleet {
		for _, p := range []struct {
			name, value string
			typ         ssmtypes.ParameterType
		}{
			{fmt.Sprintf("%si-%04d/url", path, i), in.URL(), ssmtypes.ParameterTypeString},
			{fmt.Sprintf("%si-%04d/api-key", path, i), fmt.Sprintf("bench-key-%d", i), ssmtypes.ParameterTypeSecureString},
		} {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(p.name), Value: aws.String(p.value), Type: p.typ}); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// cpuTime is the process's user and system CPU time, from /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / time.Duration(clockTicks())
}

func clockTicks() int {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, err2 := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && err2 == nil && n > 0 {
		return n
	}
	return 100
}

// peakRSS is the process's peak resident memory (VmHWM), in MB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

func printTable(ms []measurement, o options) {
	fmt.Printf("%-6s %-11s %9s %9s %6s %12s %6s %8s %7s  %s\n", "fleet", "run", "wall", "floor", "ratio", "floor@conc", "ratio", "cpu", "peakRSS", "AWS calls")
	for _, m := range ms {
		var calls []string
		for op, n := range m.calls {
			calls = append(calls, fmt.Sprintf("%s=%d", op, n))
		}
		slices.Sort(calls)
		fmt.Printf("%-6d %-11s %9s %9s %6.2f %12s %6.2f %8s %5.1fMB  %s\n", m.fleet, m.run,
			m.wall.Round(time.Millisecond), m.floor.Round(time.Millisecond), ratio(m.wall, m.floor),
			m.floorNow.Round(time.Millisecond), ratio(m.wall, m.floorNow),
			m.cpu.Round(10*time.Millisecond), m.rssMB, strings.Join(calls, " "))
	}
	fmt.Println()
	for _, m := range ms {
		if m.run == "first" {
			fmt.Printf("fleet %-5d cold start (process start to ready for the first event): %.1f ms; MAX_CONCURRENCY %d\n", m.fleet, m.coldMs, m.conc)
		}
	}
	fmt.Printf("\nfloor: one check (%s) plus the AWS round trips that cannot overlap (SSM pages, claim, publish, record, metrics), at %s each;\n", o.checkDelay, o.awsDelay)
	fmt.Println("floor@conc: the same with the checks in waves of MAX_CONCURRENCY instances.")
	fmt.Printf("the first run reads SSM; later runs use the targets cache (TARGETS_CACHE_TTL=%s).\n", o.cacheTTL)
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
