//go:build linux

// Command bench is `make bench`: it runs whole monitor runs of the real
// bootstrap binary (through the Lambda Runtime API, with Lambda's limit of
// 1024 open files) against a local AWS stack behind a proxy that adds a
// round-trip latency to every AWS call, and a simulated fleet whose endpoints
// answer after a set latency. For fleets of several sizes it prints the wall
// time of a cold, a changing and a steady run, the steady run's floor, the
// function's CPU time per instance and peak memory, the SSM calls and KMS
// decryptions of each run, the AWS calls by operation, and how long a cold
// read of the targets from SSM takes.
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
	"golang.org/x/sys/unix"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/run"
	"github.com/proget-monitor/proget-monitor/internal/runtimeapi"
	"github.com/proget-monitor/proget-monitor/internal/store"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

type options struct {
	bootstrap   string
	fleets      []int
	checkDelay  time.Duration
	awsDelay    time.Duration
	changeShare float64
	concurrency string
	openFiles   uint64
	logPath     string
	env         string
	steady      int
	https       bool
}

func main() {
	var o options
	var fleets string
	flag.StringVar(&o.bootstrap, "bootstrap", ".build/local/bootstrap", "the function binary")
	flag.StringVar(&fleets, "fleets", "10,100,1000", "fleet sizes")
	flag.DurationVar(&o.checkDelay, "check-latency", 100*time.Millisecond, "latency of each ProGet endpoint")
	flag.DurationVar(&o.awsDelay, "aws-latency", 20*time.Millisecond, "round trip added to every AWS call")
	flag.Float64Var(&o.changeShare, "change", 0.05, "share of instances that change state in the changing run")
	flag.StringVar(&o.concurrency, "concurrency", "auto", "MAX_CONCURRENCY")
	flag.Uint64Var(&o.openFiles, "open-files", 1024, "the function's limit on open files (Lambda's is 1024)")
	flag.StringVar(&o.logPath, "log", "", "where the function's log lines go (default: nowhere)")
	flag.StringVar(&o.env, "env", "", "more of the function's environment, as NAME=value,NAME=value")
	flag.IntVar(&o.steady, "steady", 2, "how many steady runs to measure")
	flag.BoolVar(&o.https, "https", false, "serve the fleet over https (one CA, trusted with each instance's ca-bundle)")
	flag.Parse()
	for f := range strings.SplitSeq(fleets, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: bad fleet size %q\n", f)
			os.Exit(2)
		}
		o.fleets = append(o.fleets, n)
	}
	if err := runAll(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// measurement is one invocation.
type measurement struct {
	fleet int
	run   string
	wall  time.Duration
	cpu   time.Duration // the function's, user and system
	user  time.Duration // the function's, user only
	// fleetCPU is this process's: the simulated fleet and the AWS stack.
	fleetCPU time.Duration
	rssMB    float64
	calls    map[string]int
	summary  run.Summary
	coldMs   float64
}

func runAll(o options) error {
	info, err := os.Stat(o.bootstrap)
	if err != nil {
		return fmt.Errorf("%w (make build-local builds it)", err)
	}
	fmt.Printf("proget-monitor benchmark: %s/%s, %d cores, Go %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	scheme := "http"
	if o.https {
		scheme = "https"
	}
	fmt.Printf("bootstrap %s: %.1f MB, open files limited to %d; ProGet endpoints over %s answer after %s; every AWS call takes %s more\n\n",
		o.bootstrap, float64(info.Size())/1e6, o.openFiles, scheme, o.checkDelay, o.awsDelay)

	var all []measurement
	reads := map[int]time.Duration{}
	for _, n := range o.fleets {
		ms, coldRead, err := bench(o, n)
		if err != nil {
			return fmt.Errorf("fleet of %d: %w", n, err)
		}
		all = append(all, ms...)
		reads[n] = coldRead
	}
	printTable(all, reads, o)
	return nil
}

// bench measures one fleet size: a cold run (every instance new, the targets
// read from SSM), a run where a share of the instances changes, and a run
// where nothing changes.
func bench(o options, n int) ([]measurement, time.Duration, error) {
	ctx := context.Background()
	stack := localaws.Start()
	defer stack.Close()
	cfg, err := stack.Config(ctx)
	if err != nil {
		return nil, 0, err
	}
	table, path := fmt.Sprintf("bench-%d", n), fmt.Sprintf("/bench-%d/", n)
	if err := store.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		return nil, 0, err
	}
	alerts, err := localaws.NewAlertQueue(ctx, cfg, table+"-alerts")
	if err != nil {
		return nil, 0, err
	}
	events, err := localaws.NewAlertQueue(ctx, cfg, table+"-events")
	if err != nil {
		return nil, 0, err
	}
	fleet, err := startFleet(n, o.checkDelay, o.https)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		for _, in := range fleet {
			in.Stop()
		}
	}()
	if err := putTargets(ctx, ssm.NewFromConfig(cfg), path, fleet); err != nil {
		return nil, 0, err
	}

	env := append(stack.Env(), "STATE_TABLE="+table, "ALERT_TOPIC_ARN="+alerts.TopicARN, "EVENT_TOPIC_ARN="+events.TopicARN,
		"TARGETS_PATH="+path, "METRICS_NAMESPACE=Bench", "LOG_LEVEL=info", "MAX_CONCURRENCY="+o.concurrency,
		// The template's default memory, which sizes the function's heap.
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512")
	if o.env != "" {
		env = append(env, strings.Split(o.env, ",")...)
	}
	var logs io.Writer = io.Discard
	if o.logPath != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", o.logPath, n))
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		logs = f
	}
	fn, err := runtimeapi.StartFunction(o.bootstrap, env, logs)
	if err != nil {
		return nil, 0, err
	}
	defer fn.Close()
	// Lambda's limit, which the function reads at each run.
	lim := unix.Rlimit{Cur: o.openFiles, Max: o.openFiles}
	if err := unix.Prlimit(fn.PID(), unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		return nil, 0, fmt.Errorf("limit the function's open files: %w", err)
	}
	cold, err := fn.WaitReady(ctx)
	if err != nil {
		return nil, 0, err
	}
	stack.SetLatency(o.awsDelay)

	var out []measurement
	measure := func(name string) error {
		stack.ResetCalls()
		user0, sys0 := cpuTimes(fn.PID())
		fleet0 := selfCPU()
		start := time.Now()
		res, err := fn.Invoke(ctx, []byte(`{}`), 5*time.Minute)
		wall := time.Since(start)
		if err != nil {
			return err
		}
		if res.Err != nil {
			return fmt.Errorf("%s run failed: %v", name, res.Err)
		}
		user1, sys1 := cpuTimes(fn.PID())
		m := measurement{fleet: n, run: name, wall: wall, cpu: user1 + sys1 - user0 - sys0, user: user1 - user0,
			fleetCPU: selfCPU() - fleet0, rssMB: peakRSS(fn.PID()),
			calls: stack.Calls(), coldMs: float64(cold.Microseconds()) / 1000}
		if err := json.Unmarshal(res.Payload, &m.summary); err != nil {
			return err
		}
		if m.summary.Checked != n {
			return fmt.Errorf("%s run checked %d of %d instances", name, m.summary.Checked, n)
		}
		out = append(out, m)
		// Keep the queues empty; not part of the run.
		if _, err := alerts.Receive(ctx); err != nil {
			return err
		}
		_, err = events.Receive(ctx)
		return err
	}
	if err := measure("cold"); err != nil {
		return nil, 0, err
	}
	changing := max(1, int(math.Round(float64(n)*o.changeShare)))
	for _, in := range fleet[:changing] {
		in.SetDatabaseError("bench: database unreachable")
	}
	if err := measure(fmt.Sprintf("%d changed", changing)); err != nil {
		return nil, 0, err
	}
	for range o.steady {
		if err := measure("steady"); err != nil {
			return nil, 0, err
		}
	}

	// A cold read of the targets, alone, as a run without a cache does it.
	start := time.Now()
	l, err := targets.NewSSM(ssm.NewFromConfig(cfg)).Load(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	if len(l.Targets) != n {
		return nil, 0, fmt.Errorf("the cold read found %d targets of %d", len(l.Targets), n)
	}
	return out, time.Since(start), nil
}

func startFleet(n int, latency time.Duration, https bool) ([]*progetsim.Instance, error) {
	fleet := make([]*progetsim.Instance, n)
	for i := range fleet {
		in := progetsim.New(progetsim.V2023)
		// An address of its own per instance, as real instances have a
		// host name each: TLS clients keep sessions per host.
		host := fmt.Sprintf("127.0.%d.%d", 1+i/250, 2+i%250)
		in.SetHost(host)
		if https {
			if i > 0 {
				in.ShareAuthority(fleet[0])
			}
			if err := in.SetCertificate(host, time.Now().Add(90*24*time.Hour)); err != nil {
				return nil, err
			}
		}
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
			{fmt.Sprintf("%si-%04d/ca-bundle", path, i), in.CAPEM(), ssmtypes.ParameterTypeString},
		} {
			if p.value == "" {
				continue
			}
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

// selfCPU is this process's CPU time, user and system.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTimes is the process's user and system CPU time, from /proc.
func cpuTimes(pid int) (user, system time.Duration) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name (which may hold spaces) start after ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	tick := time.Second / time.Duration(clockTicks())
	return time.Duration(utime) * tick, time.Duration(stime) * tick
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

// floor is the least a steady run can take: two requests one after the other
// (/health and connector-health on one connection per instance), plus the
// AWS round trips that cannot overlap (the state read, then the metrics, and
// between them a write and a publish on a changing run).
func floor(m measurement, o options) time.Duration {
	rts := 2
	if m.calls["dynamodb.PutItem"] > 0 {
		rts++
	}
	if m.calls["sns.Publish"] > 0 {
		rts += 2 // the publish, then recording it
	}
	return 2*o.checkDelay + time.Duration(rts)*o.awsDelay
}

func printTable(ms []measurement, reads map[int]time.Duration, o options) {
	fmt.Printf("%-6s %-11s %8s %7s %6s %9s %9s %9s %8s %5s %5s  %s\n", "fleet", "run", "wall", "floor", "ratio", "cpu/inst", "user/inst", "fleet cpu", "peakRSS", "SSM", "KMS", "AWS calls")
	for _, m := range ms {
		var calls []string
		for op, n := range m.calls {
			if !strings.HasPrefix(op, "sqs.") {
				calls = append(calls, fmt.Sprintf("%s=%d", op, n))
			}
		}
		slices.Sort(calls)
		// SSM decrypts each SecureString it returns with KMS: one API key per instance.
		kms := 0
		if m.calls["ssm.GetParametersByPath"] > 0 {
			kms = m.fleet
		}
		fl := floor(m, o)
		fmt.Printf("%-6d %-11s %8s %7s %6.2f %9s %9s %9s %6.1fMB %5d %5d  %s\n", m.fleet, m.run,
			m.wall.Round(time.Millisecond), fl.Round(time.Millisecond), float64(m.wall)/float64(fl),
			(m.cpu / time.Duration(m.fleet)).Round(10*time.Microsecond), (m.user / time.Duration(m.fleet)).Round(10*time.Microsecond),
			m.fleetCPU.Round(10*time.Millisecond), m.rssMB, m.calls["ssm.GetParametersByPath"], kms, strings.Join(calls, " "))
	}
	fmt.Println()
	for _, n := range o.fleets {
		fmt.Printf("fleet %-5d cold read of the targets from SSM (2 parameters per instance): %s\n", n, reads[n].Round(time.Millisecond))
	}
	for _, m := range ms {
		if m.run == "cold" {
			fmt.Printf("fleet %-5d cold start (process start to ready for the first event): %.1f ms\n", m.fleet, m.coldMs)
		}
	}
	fmt.Printf("\nfloor: two requests one after the other (%s each) plus the AWS round trips that cannot overlap (%s each).\n", o.checkDelay, o.awsDelay)
	fmt.Println("cpu/inst: the function's CPU time (user and system) for the run over the fleet size; user/inst: its user time alone (the system")
	fmt.Println("time includes the loopback network's work for both ends); fleet cpu: the simulated fleet's and the AWS stack's, which share the machine's cores.")
}
