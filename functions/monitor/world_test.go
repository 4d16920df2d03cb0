package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/render"
	"github.com/proget-monitor/proget-monitor/internal/run"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

func TestMain(m *testing.M) { os.Exit(localaws.Main(m)) }

const apiKey = "Zq8vK2mWx7Lp4tH9nRb3Fs6D"

// world is a whole local deployment on one AWS backend: the ProGet
// simulator, the parameters, table, both topics (each with a queue to read
// what subscribers receive), and the function wired as main wires it.
type world struct {
	t        *testing.T
	backend  localaws.Backend
	stack    *localaws.Stack
	aws      aws.Config
	people   *localaws.AlertQueue // the alert topic: text for e-mail
	programs *localaws.AlertQueue // the event topic: JSON documents
	table    string
	ns       string
	path     string
	app      *app
	logs     *syncBuffer
	clock    time.Time
	proget   map[string]*progetsim.Instance
	summary  run.Summary
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// each runs a scenario on every AWS backend: kumo, and the strict moto.
func each(t *testing.T, f func(t *testing.T, b localaws.Backend)) { localaws.Each(t, f) }

// newWorld starts three ProGet generations: build-eu (2023, with an API key and
// connectors), prod-eu (2024) and prod-us (2026).
func newWorld(t *testing.T, b localaws.Backend, env map[string]string) *world {
	t.Helper()
	ctx := context.Background()
	stack, cfg := localaws.ForTestOn(t, b)
	w := &world{t: t, backend: b, stack: stack, aws: cfg, logs: &syncBuffer{},
		clock: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		table: localaws.Name(t, "state"), ns: localaws.Name(t, "ProGet"),
		path:   "/" + localaws.Name(t, "targets") + "/",
		proget: map[string]*progetsim.Instance{}}
	if err := store.CreateTable(ctx, dynamodb.NewFromConfig(cfg), w.table); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.people, err = localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "alerts")); err != nil {
		t.Fatal(err)
	}
	if w.programs, err = localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "events")); err != nil {
		t.Fatal(err)
	}
	for name, gen := range map[string]progetsim.Generation{"build-eu": progetsim.V2023, "prod-eu": progetsim.V2024, "prod-us": progetsim.V2026} {
		w.addInstance(name, gen)
	}
	be := w.proget["build-eu"]
	be.SetAPIKey(apiKey)
	be.SetConnectors(
		progetsim.Connector{ID: 1, Name: "nuget.org", URL: "https://www.nuget.org/api/v2", State: "healthy"},
		progetsim.Connector{ID: 2, Name: "npmjs.org", URL: "https://registry.npmjs.org", State: "healthy"},
	)
	w.putParam(w.path+"build-eu/api-key", apiKey, true)

	vars := map[string]string{"STATE_TABLE": w.table, "ALERT_TOPIC_ARN": w.people.TopicARN, "EVENT_TOPIC_ARN": w.programs.TopicARN,
		"METRICS_NAMESPACE": w.ns, "TARGETS_PATH": w.path, "CHECK_TIMEOUT": "2s", "LOG_LEVEL": "debug"}
	for k, v := range env {
		vars[k] = v
	}
	c, err := loadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	w.app = newApp(c, cfg, newLogger(w.logs, slog.LevelDebug), "")
	w.app.runner.Now = func() time.Time { return w.clock }
	return w
}

// addInstance starts a simulated instance and puts its url parameter.
func (w *world) addInstance(name string, gen progetsim.Generation) *progetsim.Instance {
	w.t.Helper()
	in := progetsim.New(gen)
	if err := in.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(in.Stop)
	w.proget[name] = in
	w.putParam(w.path+name+"/url", in.URL(), false)
	return in
}

func (w *world) putParam(name, value string, secure bool) {
	w.t.Helper()
	typ := ssmtypes.ParameterTypeString
	if secure {
		typ = ssmtypes.ParameterTypeSecureString
	}
	if _, err := ssm.NewFromConfig(w.aws).PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) deleteParam(name string) {
	w.t.Helper()
	if _, err := ssm.NewFromConfig(w.aws).DeleteParameter(context.Background(), &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
		w.t.Fatal(err)
	}
}

// invoke handles one event at the world's clock.
func (w *world) invoke(event string) (any, error) {
	return w.app.handle(context.Background(), json.RawMessage(event))
}

// changed tells the function that a parameter changed, as SSM's event does.
func (w *world) changed(parameter string) {
	w.t.Helper()
	if _, err := w.invoke(parameterChangeEvent(parameter)); err != nil {
		w.t.Fatalf("the change event for %s: %v", parameter, err)
	}
}

// start starts a stopped ProGet instance again.
func (w *world) start(in *progetsim.Instance) {
	w.t.Helper()
	if err := in.Start(); err != nil {
		w.t.Fatal(err)
	}
}

// run invokes the function once, five minutes after the previous run, and
// returns the alerts people received. Programs must have received the same
// alerts (by id), each as a JSON document.
func (w *world) run(event string) ([]localaws.Delivery, error) {
	w.t.Helper()
	w.clock = w.clock.Add(5 * time.Minute)
	out, err := w.invoke(event)
	if sum, ok := out.(run.Summary); ok {
		w.summary = sum
	} else {
		w.summary = run.Summary{}
	}
	return w.received(), err
}

// received drains both topics' queues and holds them against each other.
func (w *world) received() []localaws.Delivery {
	w.t.Helper()
	ctx := context.Background()
	people, err := w.people.Receive(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	programs, err := w.programs.Receive(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	ids := func(ds []localaws.Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Attributes[render.AttrAlertID])
		}
		slices.Sort(out)
		return out
	}
	if a, b := ids(people), ids(programs); !slices.Equal(a, b) {
		w.t.Errorf("people received alerts %q, programs %q: both audiences must get every alert", a, b)
	}
	for _, d := range programs {
		var doc struct{ Schema, ID string }
		if err := json.Unmarshal([]byte(d.Message), &doc); err != nil || doc.ID != d.Attributes[render.AttrAlertID] || doc.Schema == "" {
			w.t.Errorf("programs received a message that is not the alert's document: %v\n%s", err, d.Message)
		}
	}
	for _, d := range people {
		if !strings.Contains(d.Message, d.Attributes[render.AttrAlertID]) {
			w.t.Errorf("the e-mail text must carry its alert id:\n%s", d.Message)
		}
	}
	return people
}

// mustRun runs and fails the test on a run error.
func (w *world) mustRun() []localaws.Delivery {
	w.t.Helper()
	got, err := w.run(`{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}`)
	if err != nil {
		w.t.Fatalf("run failed: %v", err)
	}
	return got
}

func subjects(ds []localaws.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Subject)
	}
	slices.Sort(out)
	return out
}

func expectSubjects(t *testing.T, step string, got []localaws.Delivery, want ...string) {
	t.Helper()
	slices.Sort(want)
	if strings.Join(subjects(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: alerts\n got %q\nwant %q", step, subjects(got), want)
	}
}

// functionCalls are the AWS calls since the last reset, less the test's own
// (reading the queues).
func (w *world) functionCalls() map[string]int {
	calls := w.stack.Calls()
	for op := range calls {
		if strings.HasPrefix(op, "sqs.") {
			delete(calls, op)
		}
	}
	return calls
}

// stored reads an instance's state from DynamoDB.
func (w *world) stored(name string) monitor.State {
	w.t.Helper()
	s, err := store.NewDynamoDB(dynamodb.NewFromConfig(w.aws), w.table).Load(context.Background(), []string{w.path + name})
	if err != nil {
		w.t.Fatal(err)
	}
	return s[w.path+name]
}

// metricStats is what CloudWatch holds of one series: its samples and their
// maximum, over the whole test.
func (w *world) metricStats(name string, dims ...string) (samples int, maximum float64) {
	w.t.Helper()
	var ds []cwtypes.Dimension
	for i := 0; i+1 < len(dims); i += 2 {
		ds = append(ds, cwtypes.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
	}
	now := time.Now()
	out, err := cloudwatch.NewFromConfig(w.aws).GetMetricStatistics(context.Background(), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String(w.ns), MetricName: aws.String(name), Dimensions: ds,
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Hour)), Period: aws.Int32(7200),
		Statistics: []cwtypes.Statistic{cwtypes.StatisticMaximum, cwtypes.StatisticSampleCount}})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range out.Datapoints {
		samples += int(aws.ToFloat64(p.SampleCount))
		maximum = max(maximum, aws.ToFloat64(p.Maximum))
	}
	return samples, maximum
}

// series lists the metric series in the world's namespace, as "Name{dims}".
func (w *world) series() map[string]bool {
	w.t.Helper()
	have := map[string]bool{}
	pages := cloudwatch.NewListMetricsPaginator(cloudwatch.NewFromConfig(w.aws), &cloudwatch.ListMetricsInput{Namespace: aws.String(w.ns)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		for _, m := range page.Metrics {
			var dims []string
			for _, d := range m.Dimensions {
				dims = append(dims, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
			}
			slices.Sort(dims)
			have[aws.ToString(m.MetricName)+"{"+strings.Join(dims, ",")+"}"] = true
		}
	}
	return have
}
