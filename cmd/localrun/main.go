// Command localrun is `make run`: it runs the real bootstrap binary through the
// Lambda Runtime API against a local AWS stack (kumo) and simulated ProGet
// instances of several generations, walks through a story of failures and
// recoveries, and prints each run's summary, each alert as an e-mail reader
// sees it, and the metrics pushed. It exits non-zero if the story does not
// unfold as expected.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/proget-monitor/proget-monitor/internal/alert"
	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/runtimeapi"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

const (
	targetsPath = "/proget-monitor/targets/"
	table       = "proget-monitor-state"
	namespace   = "ProGet"
)

func main() {
	bootstrap := flag.String("bootstrap", ".build/local/bootstrap", "the function binary to run")
	logPath := flag.String("log", ".build/run/monitor.log", "where the function's own log lines go")
	flag.Parse()
	if err := run(*bootstrap, *logPath); err != nil {
		fmt.Fprintln(os.Stderr, "make run failed:", err)
		os.Exit(1)
	}
}

// step is one scheduled run of the story.
type step struct {
	title string
	wait  time.Duration // before the run
	apply func(w *world)
	want  []string // the alert subjects expected
}

// The story runs in seconds, so reminders and maintenance use seconds too.
const (
	reminderInterval = 3 * time.Second
	maintenanceFor   = 3 * time.Second
)

func story() []step {
	return []step{
		{"First run: every instance is healthy and recorded silently", 0, nil, nil},
		{"prod-eu (ProGet 2024) loses its database", 0, func(w *world) {
			w.fleet["prod-eu"].SetDatabaseError("A network-related or instance-specific error occurred while establishing a connection to SQL Server.")
		}, []string{"ProGet prod-eu: database Error"}},
		{"build-eu (ProGet 2023): the nuget.org connector fails", 0, func(w *world) {
			w.fleet["build-eu"].SetConnectorState("nuget.org", "unhealthy", "Connection timed out.")
		}, []string{"ProGet build-eu: connector nuget.org Error"}},
		{"prod-us (ProGet 2026) goes down", 0, func(w *world) {
			w.fleet["prod-us"].Stop()
		}, []string{"ProGet prod-us: DOWN"}},
		{"Nothing changes: no alert is repeated", 0, nil, nil},
		{fmt.Sprintf("Still broken after the reminder interval (REMINDER_INTERVAL=%s): one reminder each", reminderInterval), reminderInterval, nil,
			[]string{"ProGet build-eu: still connector nuget.org Error (for 3s)", "ProGet prod-eu: still database Error (for 3s)", "ProGet prod-us: still DOWN (for 3s)"}},
		{fmt.Sprintf("legacy (ProGet 5.x) enters a %s maintenance window and goes down: no alert", maintenanceFor), 0, func(w *world) {
			w.put(targetsPath+"legacy/maintenance", time.Now().Add(maintenanceFor).UTC().Format(time.RFC3339))
			w.fleet["legacy"].Stop()
		}, nil},
		{"Everything else recovers", 0, func(w *world) {
			w.fleet["prod-eu"].SetDatabaseError("")
			w.fleet["build-eu"].SetConnectorState("nuget.org", "healthy", "")
			must(w.fleet["prod-us"].Start())
		}, []string{"ProGet build-eu: recovered", "ProGet prod-eu: recovered", "ProGet prod-us: recovered"}},
		{"The maintenance window is over and legacy is still down: now it is alerted", maintenanceFor, nil,
			[]string{"ProGet legacy: DOWN"}},
		{"legacy comes back", 0, func(w *world) {
			must(w.fleet["legacy"].Start())
		}, []string{"ProGet legacy: recovered"}},
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func run(bootstrap, logPath string) error {
	ctx := context.Background()
	stack := localaws.Start()
	defer stack.Close()
	cfg, err := stack.Config(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Local AWS stack (kumo) at %s\n", stack.URL)

	fleet, err := startFleet()
	if err != nil {
		return err
	}
	defer func() {
		for _, in := range fleet {
			in.Stop()
		}
	}()
	if err := store.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		return err
	}
	queue, err := localaws.NewAlertQueue(ctx, cfg, "proget-monitor-alerts")
	if err != nil {
		return err
	}
	w := &world{ctx: ctx, ssm: ssm.NewFromConfig(cfg), fleet: fleet}
	for name, in := range fleet {
		w.put(targetsPath+name+"/url", in.URL())
	}
	w.putSecure(targetsPath+"build-eu/api-key", "local-build-eu-key")
	if w.err != nil {
		return w.err
	}

	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	logs, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logs.Close()
	env := append(stack.Env(),
		"STATE_TABLE="+table,
		"ALERT_TOPIC_ARN="+queue.TopicARN,
		"TARGETS_PATH="+targetsPath,
		"METRICS_NAMESPACE="+namespace,
		"CHECK_TIMEOUT=3s",
		"REMINDER_INTERVAL="+reminderInterval.String(),
	)
	fn, err := runtimeapi.StartFunction(bootstrap, env, logs)
	if err != nil {
		return fmt.Errorf("%w (build it first: make build-local)", err)
	}
	defer fn.Close()
	coldStart, err := fn.WaitReady(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Function %s started in %s; its logs go to %s\n", bootstrap, coldStart.Round(time.Millisecond), logPath)

	var failures []string
	for i, s := range story() {
		time.Sleep(s.wait)
		if s.apply != nil {
			s.apply(w)
			if w.err != nil {
				return w.err
			}
		}
		fmt.Printf("\n=== Run %d: %s\n", i+1, s.title)
		event, _ := json.Marshal(map[string]any{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": map[string]any{}})
		res, err := fn.Invoke(ctx, event, 30*time.Second)
		if err != nil {
			return err
		}
		if res.Err != nil {
			failures = append(failures, fmt.Sprintf("run %d failed: %v", i+1, res.Err))
			fmt.Printf("The run failed: %v\n", res.Err)
			continue
		}
		var sum monitor.Summary
		if err := json.Unmarshal(res.Payload, &sum); err != nil {
			return fmt.Errorf("the function's answer is not a summary: %w: %s", err, res.Payload)
		}
		fmt.Printf("Summary: checked %d, healthy %d, unhealthy %d (down %d), changed %d, alerts published %d, invalid targets %d, metrics %d, %d ms\n",
			sum.Checked, sum.Healthy, sum.Unhealthy, sum.Down, sum.Changed, sum.AlertsPublished, sum.InvalidTargets, sum.MetricsPublished, sum.DurationMs)
		got, err := queue.Receive(ctx)
		if err != nil {
			return err
		}
		var subjects []string
		for _, d := range got {
			subjects = append(subjects, d.Subject)
			printEmail(d)
		}
		if len(got) == 0 {
			fmt.Println("No alert.")
		}
		slices.Sort(subjects)
		if !slices.Equal(subjects, s.want) && !slices.Equal(withoutDurations(subjects), withoutDurations(s.want)) {
			failures = append(failures, fmt.Sprintf("run %d: alerts %q, expected %q", i+1, subjects, s.want))
		}
	}
	if err := printMetrics(ctx, cloudwatch.NewFromConfig(cfg)); err != nil {
		return err
	}
	if len(failures) > 0 {
		return fmt.Errorf("the story did not unfold as expected:\n  %s", strings.Join(failures, "\n  "))
	}
	fmt.Println("\nThe story unfolded as expected: every change alerted once, reminders while broken, silence during maintenance, every recovery.")
	return nil
}

func startFleet() (map[string]*progetsim.Instance, error) {
	fleet := map[string]*progetsim.Instance{
		"legacy":   progetsim.New(progetsim.V5),
		"build-eu": progetsim.New(progetsim.V2023),
		"prod-eu":  progetsim.New(progetsim.V2024),
		"prod-us":  progetsim.New(progetsim.V2026),
	}
	fleet["build-eu"].SetAPIKey("local-build-eu-key")
	fleet["build-eu"].SetConnectors(
		progetsim.Connector{ID: 1, Name: "nuget.org", URL: "https://www.nuget.org/api/v2", State: "healthy", Typo: true},
		progetsim.Connector{ID: 2, Name: "npmjs.org", URL: "https://registry.npmjs.org", State: "healthy"},
	)
	ok := ""
	fleet["prod-eu"].SetReplication(&ok, nil)
	for name, in := range fleet {
		if err := in.Start(); err != nil {
			return nil, err
		}
		fmt.Printf("Simulated ProGet %-4s %-9s at %s\n", in.Generation(), name, in.URL())
	}
	return fleet, nil
}

var durationRE = regexp.MustCompile(`\(for [^)]*\)`)

// withoutDurations drops "(for 3s)": how long exactly depends on the machine's speed.
func withoutDurations(subjects []string) []string {
	out := make([]string, len(subjects))
	for i, s := range subjects {
		out[i] = durationRE.ReplaceAllString(s, "(for ...)")
	}
	return out
}

// world is what the story changes: the simulated fleet and the parameters.
type world struct {
	ctx   context.Context
	ssm   *ssm.Client
	fleet map[string]*progetsim.Instance
	err   error
}

func (w *world) put(name, value string) { w.putParam(name, value, ssmtypes.ParameterTypeString) }

func (w *world) putSecure(name, value string) {
	w.putParam(name, value, ssmtypes.ParameterTypeSecureString)
}

func (w *world) putParam(name, value string, typ ssmtypes.ParameterType) {
	_, err := w.ssm.PutParameter(w.ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true)})
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("put parameter %s: %w", name, err)
	}
}

// printEmail shows an alert as an e-mail subscriber reads it: the subject and the
// text SNS sends to the "email" protocol (the document's text field holds the same).
func printEmail(d localaws.Delivery) {
	var doc alert.Document
	if err := json.Unmarshal([]byte(d.Message), &doc); err != nil {
		fmt.Printf("(an alert that is not a JSON document: %s)\n", d.Message)
		return
	}
	fmt.Printf("\n  +-- E-mail  [severity=%s instance=%s alert-id=%s]\n", d.Attributes[alert.AttrSeverity], d.Attributes[alert.AttrInstance], d.Attributes[alert.AttrAlertID])
	fmt.Printf("  | Subject: %s\n  |\n", d.Subject)
	for line := range strings.Lines(doc.Text) {
		fmt.Printf("  | %s", line)
	}
	fmt.Println("  +--")
}

func printMetrics(ctx context.Context, cw *cloudwatch.Client) error {
	var names []string
	series := map[string][]string{}
	pages := cloudwatch.NewListMetricsPaginator(cw, &cloudwatch.ListMetricsInput{Namespace: aws.String(namespace)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list metrics: %w", err)
		}
		for _, m := range page.Metrics {
			name := aws.ToString(m.MetricName)
			if _, ok := series[name]; !ok {
				names = append(names, name)
			}
			var dims []string
			for _, d := range m.Dimensions {
				dims = append(dims, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
			}
			slices.Sort(dims)
			series[name] = append(series[name], strings.Join(dims, ","))
		}
	}
	slices.Sort(names)
	fmt.Printf("\n=== Metrics in CloudWatch namespace %q\n", namespace)
	for _, n := range names {
		dims := series[n]
		slices.Sort(dims)
		if len(dims) == 1 && dims[0] == "" {
			fmt.Printf("  %-20s (no dimension)\n", n)
			continue
		}
		fmt.Printf("  %-20s %s\n", n, strings.Join(dims, "  "))
	}
	return nil
}
