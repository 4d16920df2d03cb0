// Command localrun is `make run`: it runs the real bootstrap binary through the
// Lambda Runtime API against a local AWS stack (kumo, or moto with -aws moto)
// and simulated ProGet instances of several generations, walks through a story
// of failures and recoveries, and prints each run's summary with the fleet
// metrics it published, each alert as an e-mail reader sees it, and the
// metric series in CloudWatch. It exits non-zero if the story does not unfold
// as expected.
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

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/render"
	"github.com/proget-monitor/proget-monitor/internal/run"
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
	backend := flag.String("aws", string(localaws.Kumo), "the AWS emulator: kumo (lenient, in process) or moto (strict); CloudWatch is kumo's either way")
	flag.Parse()
	err := runStory(localaws.Backend(*backend), *bootstrap, *logPath)
	localaws.Shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "make run failed:", err)
		os.Exit(1)
	}
}

// step is one event of the story: a scheduled run, or SSM's change event.
type step struct {
	title  string
	wait   time.Duration // before the step
	apply  func(w *world)
	change string   // when set, the step is SSM's change event for this parameter
	want   []string // the alert subjects expected
}

// The story runs in seconds, so reminders and maintenance use seconds too.
const (
	reminderInterval = 3 * time.Second
	maintenanceFor   = 3 * time.Second
)

func story() []step {
	return []step{
		{title: "First run: every instance is healthy and recorded silently"},
		{title: "prod-eu (ProGet 2024) loses its database: seen, not yet confirmed (FAILURE_THRESHOLD=2)", apply: func(w *world) {
			w.fleet["prod-eu"].SetDatabaseError("A network-related or instance-specific error occurred while establishing a connection to SQL Server.")
		}},
		{title: "Still no database: confirmed, alerted once", want: []string{"ProGet prod-eu: database Error"}},
		{title: "build-eu (ProGet 2023): the nuget.org connector fails, and prod-us (ProGet 2026) goes down", apply: func(w *world) {
			w.fleet["build-eu"].SetConnectorState("nuget.org", "unhealthy", "Connection timed out.")
			w.fleet["prod-us"].Stop()
		}},
		{title: "Both confirmed", want: []string{"ProGet build-eu: connector nuget.org Error", "ProGet prod-us: DOWN"}},
		{title: "Nothing changes: no alert is repeated"},
		{title: fmt.Sprintf("Still broken after the reminder interval (REMINDER_INTERVAL=%s): one reminder each", reminderInterval), wait: reminderInterval,
			want: []string{"ProGet build-eu: still connector nuget.org Error (for 3s)", "ProGet prod-eu: still database Error (for 3s)", "ProGet prod-us: still DOWN (for 3s)"}},
		{title: fmt.Sprintf("legacy (ProGet 5.x) is put in a %s maintenance window: SSM reports the change", maintenanceFor), apply: func(w *world) {
			w.put(targetsPath+"legacy/maintenance", time.Now().Add(maintenanceFor).UTC().Format(time.RFC3339))
		}, change: targetsPath + "legacy/maintenance"},
		{title: "legacy goes down inside its window: no alert, and the summary says until when", apply: func(w *world) {
			w.fleet["legacy"].Stop()
		}},
		{title: "Everything else recovers", apply: func(w *world) {
			w.fleet["prod-eu"].SetDatabaseError("")
			w.fleet["build-eu"].SetConnectorState("nuget.org", "healthy", "")
			must(w.fleet["prod-us"].Start())
		}, want: []string{"ProGet build-eu: recovered", "ProGet prod-eu: recovered", "ProGet prod-us: recovered"}},
		{title: "The maintenance window is over and legacy is still down (confirmed meanwhile): now it is alerted", wait: maintenanceFor,
			want: []string{"ProGet legacy: DOWN"}},
		{title: "legacy comes back", apply: func(w *world) {
			must(w.fleet["legacy"].Start())
		}, want: []string{"ProGet legacy: recovered"}},
		{title: "A new instance, new-eu (ProGet 2024), is added to SSM: SSM reports the change", apply: func(w *world) {
			in := progetsim.New(progetsim.V2024)
			in.SetLicenseError("The license key has expired.")
			must(in.Start())
			w.fleet["new-eu"] = in
			w.put(targetsPath+"new-eu/url", in.URL())
		}, change: targetsPath + "new-eu/url"},
		{title: "The next run reads SSM again and checks new-eu", want: []string{}},
		{title: "new-eu's license problem is confirmed", want: []string{"ProGet new-eu: license Error"}},
		{title: "prod-eu's npm feed loses its upstream: /health says OK, the probe through the connector fails", apply: func(w *world) {
			w.fleet["prod-eu"].SetUpstreamDown("npm-remote", 502)
		}},
		{title: "The probe's failure is confirmed", want: []string{"ProGet prod-eu: probe npm-left-pad Error"}},
		{title: "The upstream is back", apply: func(w *world) {
			w.fleet["prod-eu"].SetUpstreamDown("npm-remote", 0)
		}, want: []string{"ProGet prod-eu: recovered"}},
		{title: "secure-eu (https) gets a certificate that expires in 5 days (CERT_WARNING_DAYS=14)", apply: func(w *world) {
			must(w.fleet["secure-eu"].SetCertificate("proget.secure.example", time.Now().Add(5*24*time.Hour+time.Hour)))
		}},
		{title: "The certificate warning is confirmed", want: []string{"ProGet secure-eu: TLS certificate expiring soon"}},
		{title: "The certificate is renewed", apply: func(w *world) {
			must(w.fleet["secure-eu"].SetCertificate("proget.secure.example", time.Now().Add(90*24*time.Hour)))
		}, want: []string{"ProGet secure-eu: recovered"}},
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func runStory(backend localaws.Backend, bootstrap, logPath string) error {
	ctx := context.Background()
	stack, err := localaws.StartOn(backend)
	if err != nil {
		return err
	}
	defer stack.Close()
	cfg, err := stack.Config(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Local AWS stack at %s: SSM, DynamoDB, SNS and SQS on %s, CloudWatch on kumo\n", stack.URL, stack.Backend())

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
	people, err := localaws.NewAlertQueue(ctx, cfg, "proget-monitor-alerts")
	if err != nil {
		return err
	}
	programs, err := localaws.NewAlertQueue(ctx, cfg, "proget-monitor-events")
	if err != nil {
		return err
	}
	w := &world{ctx: ctx, ssm: ssm.NewFromConfig(cfg), fleet: fleet}
	for name, in := range fleet {
		w.put(targetsPath+name+"/url", in.URL())
	}
	w.putSecure(targetsPath+"build-eu/api-key", "local-build-eu-key")
	w.put(targetsPath+"prod-eu/probes", "npm-left-pad  /npm/npm-remote/left-pad\npypi-requests /pypi/pypi-remote/simple/requests/")
	w.put(targetsPath+"secure-eu/ca-bundle", fleet["secure-eu"].CAPEM())
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
		"ALERT_TOPIC_ARN="+people.TopicARN,
		"EVENT_TOPIC_ARN="+programs.TopicARN,
		"TARGETS_PATH="+targetsPath,
		"METRICS_NAMESPACE="+namespace,
		"CHECK_TIMEOUT=3s",
		"FAILURE_THRESHOLD=2",
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
	fmt.Println("Settings: FAILURE_THRESHOLD=2 (a problem is alerted once seen in two runs in a row), REMINDER_INTERVAL=3s, METRICS=instance")
	fmt.Println("prod-eu (ProGet 2024, no connector-health API) has feed probes: npm-left-pad and pypi-requests")

	var failures []string
	for i, s := range story() {
		time.Sleep(s.wait)
		if s.apply != nil {
			s.apply(w)
			if w.err != nil {
				return w.err
			}
		}
		fmt.Printf("\n=== %d. %s\n", i+1, s.title)
		event, _ := json.Marshal(map[string]any{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": map[string]any{}})
		if s.change != "" {
			event, _ = json.Marshal(map[string]any{"version": "0", "id": fmt.Sprintf("local-change-%d", i), "detail-type": "Parameter Store Change",
				"source": "aws.ssm", "time": time.Now().UTC().Format(time.RFC3339), "detail": map[string]any{"name": s.change, "operation": "Update"}})
		}
		res, err := fn.Invoke(ctx, event, 30*time.Second)
		if err != nil {
			return err
		}
		if res.Err != nil {
			failures = append(failures, fmt.Sprintf("step %d failed: %v", i+1, res.Err))
			fmt.Printf("The invocation failed: %v\n", res.Err)
			continue
		}
		if s.change != "" {
			fmt.Printf("SSM change event for %s: %s (nothing is checked; the next run reads SSM again)\n", s.change, res.Payload)
			continue
		}
		var sum run.Summary
		if err := json.Unmarshal(res.Payload, &sum); err != nil {
			return fmt.Errorf("the function's answer is not a summary: %w: %s", err, res.Payload)
		}
		printSummary(sum)
		got, err := people.Receive(ctx)
		if err != nil {
			return err
		}
		docs, err := programs.Receive(ctx)
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
		if len(docs) != len(got) {
			failures = append(failures, fmt.Sprintf("step %d: %d e-mails but %d JSON documents", i+1, len(got), len(docs)))
		} else if len(docs) > 0 {
			fmt.Printf("  (the event topic received the same %d alert(s) as JSON documents, for programs)\n", len(docs))
		}
		slices.Sort(subjects)
		want := slices.Clone(s.want)
		slices.Sort(want)
		if !slices.Equal(withoutDurations(subjects), withoutDurations(want)) {
			failures = append(failures, fmt.Sprintf("step %d: alerts %q, expected %q", i+1, subjects, want))
		}
	}
	if err := printMetrics(ctx, cloudwatch.NewFromConfig(cfg)); err != nil {
		return err
	}
	if len(failures) > 0 {
		return fmt.Errorf("the story did not unfold as expected:\n  %s", strings.Join(failures, "\n  "))
	}
	fmt.Println("\nThe story unfolded as expected: every confirmed change alerted once, reminders while broken, silence during maintenance, every")
	fmt.Println("recovery, a new instance picked up from SSM's change event, a connector failure seen through a feed probe, a certificate warning.")
	return nil
}

// printSummary shows a run's counts and the fleet metrics it published: what
// the run saw (unhealthy) beside what is confirmed and pages (alerting).
func printSummary(s run.Summary) {
	source := "read from SSM"
	if s.TargetsCached {
		source = "cached: SSM unchanged"
	}
	fmt.Printf("Summary: checked %d (targets %s), healthy %d, down %d, changed %d, alerts published %d, %d ms\n",
		s.Checked, source, s.Healthy, s.Down, s.Changed, s.AlertsPublished, s.DurationMs)
	fmt.Printf("Fleet metrics: InstancesChecked=%d  InstancesUnhealthy=%d (as seen)  InstancesAlerting=%d (confirmed: what pages)  InstancesInMaintenance=%d\n",
		s.Checked, s.Unhealthy, s.Alerting, len(s.InMaintenance))
	for _, m := range s.InMaintenance {
		fmt.Printf("In maintenance: %s until %s\n", m.Instance, m.Until.Format(time.RFC3339))
	}
}

func startFleet() (map[string]*progetsim.Instance, error) {
	fleet := map[string]*progetsim.Instance{
		"legacy":   progetsim.New(progetsim.V5),
		"build-eu": progetsim.New(progetsim.V2023),
		"prod-eu":  progetsim.New(progetsim.V2024),
		"prod-us":  progetsim.New(progetsim.V2026),
		// secure-eu is served over https by a CA of its own, which its
		// ca-bundle parameter trusts.
		"secure-eu": progetsim.New(progetsim.V2026),
	}
	if err := fleet["secure-eu"].SetCertificate("proget.secure.example", time.Now().Add(60*24*time.Hour)); err != nil {
		return nil, err
	}
	fleet["prod-eu"].AddFeed(progetsim.Feed{Name: "npm-remote", Type: progetsim.NpmFeed, Connector: "npmjs.org", Packages: []string{"left-pad"}})
	fleet["prod-eu"].AddFeed(progetsim.Feed{Name: "pypi-remote", Type: progetsim.PyPIFeed, Connector: "pypi.org", Packages: []string{"requests"}})
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
		fmt.Printf("Simulated ProGet %-4s %-10s at %s\n", in.Generation(), name, in.URL())
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

// printEmail shows an alert as an e-mail subscriber reads it: the subject and
// the text of the alert topic.
func printEmail(d localaws.Delivery) {
	fmt.Printf("\n  +-- E-mail  [severity=%s instance=%s alert-id=%s]\n", d.Attributes[render.AttrSeverity], d.Attributes[render.AttrInstance], d.Attributes[render.AttrAlertID])
	fmt.Printf("  | Subject: %s\n  |\n", d.Subject)
	for line := range strings.Lines(d.Message) {
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
	fmt.Printf("\n=== Metric series in CloudWatch namespace %q (METRICS=instance: fleet metrics per schedule, Alerting and ResponseTime per instance)\n", namespace)
	for _, n := range names {
		dims := series[n]
		slices.Sort(dims)
		fmt.Printf("  %-22s %s\n", n, strings.Join(dims, "  "))
	}
	return nil
}
