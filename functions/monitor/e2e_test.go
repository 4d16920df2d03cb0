package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/proget-monitor/proget-monitor/internal/alert"
	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

const apiKey = "k3y-0f-build-eu-do-not-leak-7f3a9c"

// world is a whole local deployment: kumo, the ProGet simulator, the parameters,
// table and topic, and the function wired as main wires it.
type world struct {
	t       *testing.T
	stack   *localaws.Stack
	aws     aws.Config
	queue   *localaws.AlertQueue
	table   string
	ns      string
	path    string
	app     *app
	logs    *syncBuffer
	clock   time.Time
	proget  map[string]*progetsim.Instance
	summary monitor.Summary
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

// newWorld starts three ProGet generations: build-eu (2023, with an API key and
// connectors), prod-eu (2024) and prod-us (2026).
func newWorld(t *testing.T, env map[string]string) *world {
	t.Helper()
	ctx := context.Background()
	stack, cfg := localaws.ForTest(t)
	w := &world{t: t, stack: stack, aws: cfg, logs: &syncBuffer{},
		clock: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		table: localaws.Name(t, "state"), ns: localaws.Name(t, "ProGet"),
		path:   "/" + localaws.Name(t, "targets") + "/",
		proget: map[string]*progetsim.Instance{}}
	if err := store.CreateTable(ctx, dynamodb.NewFromConfig(cfg), w.table); err != nil {
		t.Fatal(err)
	}
	q, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	w.queue = q
	for name, gen := range map[string]progetsim.Generation{"build-eu": progetsim.V2023, "prod-eu": progetsim.V2024, "prod-us": progetsim.V2026} {
		in := progetsim.New(gen)
		if err := in.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.Stop)
		w.proget[name] = in
		w.putParam(w.path+name+"/url", in.URL(), false)
	}
	be := w.proget["build-eu"]
	be.SetAPIKey(apiKey)
	be.SetConnectors(
		progetsim.Connector{ID: 1, Name: "nuget.org", URL: "https://www.nuget.org/api/v2", State: "healthy"},
		progetsim.Connector{ID: 2, Name: "npmjs.org", URL: "https://registry.npmjs.org", State: "healthy"},
	)
	w.putParam(w.path+"build-eu/api-key", apiKey, true)

	vars := map[string]string{"STATE_TABLE": w.table, "ALERT_TOPIC_ARN": q.TopicARN, "METRICS_NAMESPACE": w.ns,
		"TARGETS_PATH": w.path, "CHECK_TIMEOUT": "2s", "LOG_LEVEL": "debug"}
	for k, v := range env {
		vars[k] = v
	}
	c, err := loadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	w.app = newApp(c, cfg, slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	w.app.runner.Now = func() time.Time { return w.clock }
	return w
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

// run invokes the function once, five minutes after the previous run, and
// returns the alerts that reached the topic.
func (w *world) run(event string) ([]localaws.Delivery, error) {
	w.t.Helper()
	w.clock = w.clock.Add(5 * time.Minute)
	sum, err := w.app.handle(context.Background(), json.RawMessage(event))
	w.summary = sum
	got, rerr := w.queue.Receive(context.Background())
	if rerr != nil {
		w.t.Fatal(rerr)
	}
	return got, err
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

// stored reads an instance's item from DynamoDB.
func (w *world) stored(name string) monitor.State {
	w.t.Helper()
	s, err := store.NewDynamoDB(dynamodb.NewFromConfig(w.aws), w.table).Load(context.Background(), []string{w.path + name})
	if err != nil {
		w.t.Fatal(err)
	}
	return s[w.path+name]
}

func TestWholeRunStory(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()

	expectSubjects(t, "first run, all healthy", w.mustRun())
	if w.summary.Checked != 3 || w.summary.Healthy != 3 || w.summary.AlertsPublished != 0 {
		t.Errorf("first run summary %+v", w.summary)
	}
	if st := w.stored("build-eu"); st.Components["connector:nuget.org"].Status != monitor.StatusOK || st.Version != 1 {
		t.Errorf("build-eu state after first run: %+v", st)
	}

	w.proget["prod-eu"].SetDatabaseError("A network-related error occurred while connecting to SQL Server.")
	got := w.mustRun()
	expectSubjects(t, "database fails", got, "ProGet prod-eu: database Error")
	if len(got) == 1 {
		d := got[0]
		if d.Attributes[alert.AttrInstance] != "prod-eu" || d.Attributes[alert.AttrSeverity] != "critical" || d.Attributes[alert.AttrAlertID] == "" {
			t.Errorf("attributes %v", d.Attributes)
		}
		var doc alert.Document
		if err := json.Unmarshal([]byte(d.Message), &doc); err != nil {
			t.Fatalf("the sqs message is not the JSON document: %v\n%s", err, d.Message)
		}
		if doc.Schema != alert.Schema || len(doc.Changes) != 1 || doc.Changes[0].From != monitor.StatusOK ||
			doc.Changes[0].To != monitor.StatusError || !strings.Contains(doc.Changes[0].Detail, "SQL Server") ||
			doc.ID != d.Attributes[alert.AttrAlertID] || !strings.Contains(doc.Text, "database: OK -> Error") {
			t.Errorf("document %+v", doc)
		}
	}
	if st := w.stored("prod-eu"); st.Components["database"].Status != monitor.StatusError || len(st.Outbox) != 0 {
		t.Errorf("prod-eu after the database failed: %+v", st)
	}
	expectSubjects(t, "database still failing", w.mustRun())

	w.proget["build-eu"].SetConnectorState("nuget.org", "unhealthy", "Connection timed out.")
	w.proget["build-eu"].SetConnectorState("npmjs.org", "error", "503 from upstream")
	expectSubjects(t, "two connectors fail", w.mustRun(), "ProGet build-eu: 2 connectors Error")

	w.proget["prod-us"].Stop()
	expectSubjects(t, "instance down", w.mustRun(), "ProGet prod-us: DOWN")
	if w.summary.Down != 1 || w.summary.Changed != 1 {
		t.Errorf("summary %+v", w.summary)
	}
	expectSubjects(t, "still down", w.mustRun())

	w.proget["prod-eu"].SetDatabaseError("")
	w.proget["build-eu"].SetConnectorState("nuget.org", "healthy", "")
	w.proget["build-eu"].SetConnectorState("npmjs.org", "healthy", "")
	if err := w.proget["prod-us"].Start(); err != nil {
		t.Fatal(err)
	}
	got = w.mustRun()
	expectSubjects(t, "everything recovers", got, "ProGet build-eu: recovered", "ProGet prod-eu: recovered", "ProGet prod-us: recovered")
	for _, d := range got {
		if d.Attributes[alert.AttrSeverity] != "resolved" {
			t.Errorf("%s: severity %q, want resolved", d.Subject, d.Attributes[alert.AttrSeverity])
		}
	}
	expectSubjects(t, "quiet again", w.mustRun())

	// Metrics: every documented metric exists.
	lm, err := cloudwatch.NewFromConfig(w.aws).ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(w.ns)})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range lm.Metrics {
		var dims []string
		for _, d := range m.Dimensions {
			dims = append(dims, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
		}
		slices.Sort(dims)
		have[aws.ToString(m.MetricName)+"{"+strings.Join(dims, ",")+"}"] = true
	}
	for _, want := range []string{
		"Up{Instance=prod-us}", "Healthy{Instance=prod-eu}", "ResponseTime{Instance=build-eu}",
		"DatabaseHealthy{Instance=prod-eu}", "LicenseHealthy{Instance=prod-us}", "ServiceHealthy{Instance=build-eu}",
		"ConnectorsHealthy{Instance=build-eu}", "ConnectorsUnhealthy{Instance=build-eu}",
		"ConnectorHealthy{Connector=nuget.org,Instance=build-eu}", "InstancesChecked{}", "InstancesUnhealthy{}",
	} {
		if !have[want] {
			t.Errorf("metric %s missing; have %v", want, have)
		}
	}
	if have["ConnectorsHealthy{Instance=prod-eu}"] || have["ReplicationHealthy{Instance=prod-eu}"] {
		t.Errorf("metrics for what prod-eu does not have: %v", have)
	}
}

func TestSteadyStateWritesNothing(t *testing.T) {
	w := newWorld(t, nil)
	w.mustRun()
	w.stack.ResetCalls()
	w.mustRun()
	calls := w.stack.Calls()
	if calls["dynamodb.PutItem"] != 0 || calls["sns.Publish"] != 0 {
		t.Errorf("a run with nothing changed wrote state or published: %v", calls)
	}
	if calls["dynamodb.BatchGetItem"] != 1 || calls["monitoring.PutMetricData"] != 1 {
		t.Errorf("calls = %v, want one BatchGetItem and one PutMetricData", calls)
	}
}

func TestPublishFailureIsRetriedOnce(t *testing.T) {
	w := newWorld(t, nil)
	w.mustRun()
	w.proget["prod-eu"].SetLicenseError("The license has expired.")
	w.stack.SetFault(localaws.FailOn("sns.Publish", 500, "InternalError"))
	got, err := w.run(`{}`)
	if err == nil || !strings.Contains(err.Error(), "stays pending") {
		t.Fatalf("a run whose publish failed must fail and say the alert is pending; got %v", err)
	}
	expectSubjects(t, "topic failing", got)
	if st := w.stored("prod-eu"); len(st.Outbox) != 1 {
		t.Fatalf("the undelivered alert is not kept: outbox %+v", st.Outbox)
	}
	w.stack.SetFault(nil)
	expectSubjects(t, "topic back", w.mustRun(), "ProGet prod-eu: license Error")
	expectSubjects(t, "delivered once", w.mustRun())
	if st := w.stored("prod-eu"); len(st.Outbox) != 0 {
		t.Errorf("outbox not cleared: %+v", st.Outbox)
	}
}

func TestOverlappingRunsAlertOnce(t *testing.T) {
	w := newWorld(t, nil)
	w.mustRun()
	w.proget["prod-eu"].SetServiceError("The service is stopped.")
	w.clock = w.clock.Add(5 * time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = w.app.handle(context.Background(), json.RawMessage(`{}`)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("run failed: %v", err)
		}
	}
	got, err := w.queue.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	expectSubjects(t, "four overlapping runs", got, "ProGet prod-eu: service Error")
}

func TestStateUnreadableAlertsNothing(t *testing.T) {
	w := newWorld(t, nil)
	w.mustRun()
	w.proget["prod-eu"].SetDatabaseError("down")
	w.stack.SetFault(localaws.FailOn("dynamodb.BatchGetItem", 400, "AccessDeniedException"))
	got, err := w.run(`{}`)
	if err == nil || !strings.Contains(err.Error(), "read state from table") {
		t.Fatalf("err = %v, want a state read failure", err)
	}
	expectSubjects(t, "state unreadable", got)
	w.stack.SetFault(nil)
	expectSubjects(t, "state readable again", w.mustRun(), "ProGet prod-eu: database Error")
}

func TestTargetsUnreadableFailsTheRun(t *testing.T) {
	w := newWorld(t, nil)
	w.stack.SetFault(func(op string) localaws.Injection {
		if strings.HasPrefix(op, "ssm.") {
			return localaws.Fail(400, "AccessDeniedException")
		}
		return localaws.Injection{}
	})
	got, err := w.run(`{}`)
	if err == nil || !strings.Contains(err.Error(), "read targets under "+w.path) {
		t.Fatalf("err = %v", err)
	}
	expectSubjects(t, "targets unreadable", got)
	if w.summary.Down != 0 {
		t.Errorf("instances reported down when SSM failed: %+v", w.summary)
	}
}

func TestInvalidTargetIsSkippedOthersChecked(t *testing.T) {
	w := newWorld(t, nil)
	w.putParam(w.path+"broken/url", "proget.example", false)
	w.mustRun()
	if w.summary.InvalidTargets != 1 || w.summary.Checked != 3 {
		t.Errorf("summary %+v", w.summary)
	}
	if !strings.Contains(w.logs.String(), w.path+"broken/url") {
		t.Errorf("no log line names the broken parameter")
	}
	w.mustRun()
	// The simulated instances are plain http: warned about once per process, not per run.
	if n := strings.Count(w.logs.String(), "checked over plain http"); n != 3 {
		t.Errorf("%d plain-http warnings over two runs of three instances, want 3", n)
	}
}

func TestEventTargetsPathSelectsAShard(t *testing.T) {
	w := newWorld(t, nil)
	other := "/" + localaws.Name(t, "shard-b") + "/"
	in := progetsim.New(progetsim.V2024)
	in.SetLicenseError("expired")
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	w.putParam(other+"prod-eu/url", in.URL(), false) // same name, other shard
	got, err := w.run(fmt.Sprintf(`{"targetsPath": %q}`, strings.TrimSuffix(other, "/")))
	if err != nil {
		t.Fatal(err)
	}
	expectSubjects(t, "shard b", got, "ProGet prod-eu: license Error")
	if w.summary.Checked != 1 || w.summary.TargetsPath != other {
		t.Errorf("summary %+v", w.summary)
	}
	if st := w.stored("prod-eu"); st.Version != 0 {
		t.Errorf("shard b wrote shard a's prod-eu: %+v", st)
	}
	if _, err := w.run(`{"targetsPath": 5}`); err == nil || !strings.Contains(err.Error(), "targetsPath") {
		t.Errorf("a bad targetsPath must fail the run: %v", err)
	}
}

// TestAPIKeyNeverLeaks scans everything runs produce, on good and failing paths.
func TestAPIKeyNeverLeaks(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	var everything strings.Builder
	collect := func(ds []localaws.Delivery) {
		for _, d := range ds {
			fmt.Fprintf(&everything, "%s\n%s\n%v\n", d.Subject, d.Message, d.Attributes)
		}
	}
	collect(w.mustRun())
	w.proget["build-eu"].SetAPIKey("a-different-key") // the configured key is now rejected
	w.proget["build-eu"].SetCrash("")
	collect(w.mustRun())
	w.proget["build-eu"].SetCrash("System.Exception: boom " + apiKey)
	w.stack.SetFault(localaws.FailOn("sns.Publish", 500, "InternalError"))
	_, err := w.run(`{}`)
	if err != nil {
		everything.WriteString(err.Error())
	}
	w.stack.SetFault(nil)
	collect(w.mustRun())
	sum, _ := json.Marshal(w.summary)
	everything.Write(sum)

	items, err := dynamodb.NewFromConfig(w.aws).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(w.table)})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&everything, "%+v\n", items.Items)
	metrics, err := cloudwatch.NewFromConfig(w.aws).ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(w.ns)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metrics.Metrics {
		for _, d := range m.Dimensions {
			everything.WriteString(aws.ToString(d.Value) + "\n")
		}
	}
	everything.WriteString(w.logs.String())

	if !strings.Contains(everything.String(), "API key rejected") {
		t.Fatalf("the rejected-key path was not exercised:\n%s", everything.String())
	}
	if strings.Contains(everything.String(), apiKey) {
		t.Fatalf("the API key appears in what the runs produced")
	}
}

func TestTargetsCacheSkipsSSMWhileFresh(t *testing.T) {
	w := newWorld(t, map[string]string{"TARGETS_CACHE_TTL": "10m"})
	w.mustRun()
	w.stack.ResetCalls()
	w.mustRun()
	if n := w.stack.Calls()["ssm.GetParametersByPath"]; n != 0 {
		t.Errorf("a warm run with a fresh cache read SSM %d times", n)
	}
}

// itemSize is a DynamoDB item's size as DynamoDB counts it, near enough:
// attribute names plus values.
func itemSize(av map[string]ddbtypes.AttributeValue) int {
	n := 0
	var value func(v ddbtypes.AttributeValue) int
	value = func(v ddbtypes.AttributeValue) int {
		switch t := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			return len(t.Value)
		case *ddbtypes.AttributeValueMemberN:
			return len(t.Value)/2 + 1
		case *ddbtypes.AttributeValueMemberM:
			return 3 + itemSize(t.Value)
		case *ddbtypes.AttributeValueMemberL:
			s := 3
			for _, x := range t.Value {
				s += 1 + value(x)
			}
			return s
		case *ddbtypes.AttributeValueMemberSS:
			s := 0
			for _, x := range t.Value {
				s += len(x)
			}
			return s
		}
		return 1
	}
	for k, v := range av {
		n += len(k) + value(v)
	}
	return n
}

// TestHugeConnectorListFitsInOneItem: an instance with thousands of connectors
// is stored (DynamoDB items hold 400 KB at most), with every problem kept.
func TestHugeConnectorListFitsInOneItem(t *testing.T) {
	w := newWorld(t, nil)
	var conns []progetsim.Connector
	for i := range 3000 {
		conns = append(conns, progetsim.Connector{ID: i, Name: fmt.Sprintf("upstream-feed-number-%04d.registry.example.com", i),
			URL: "https://registry.example.com", State: "healthy"})
	}
	conns[2999].State, conns[2999].Error = "error", strings.Repeat("upstream failure detail ", 10)
	w.proget["build-eu"].SetConnectors(conns...)
	got := w.mustRun()
	expectSubjects(t, "huge list", got, "ProGet build-eu: connector upstream-feed-number-2999.registry.example.com Error")
	raw, err := dynamodb.NewFromConfig(w.aws).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(w.table),
		Key: map[string]ddbtypes.AttributeValue{store.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: w.path + "build-eu"}}})
	if err != nil {
		t.Fatal(err)
	}
	if size := itemSize(raw.Item); size > 400*1024 {
		t.Errorf("the item is %d bytes: DynamoDB refuses items over 400 KB", size)
	}
}
