package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

func up(name string, connectors ...monitor.Reading) monitor.Observation {
	return monitor.Observation{
		Target: monitor.Target{Name: name}, Instance: monitor.Reading{Status: monitor.StatusOK}, HTTPStatus: 200,
		ResponseTime: 42 * time.Millisecond, HealthRead: true,
		Health: []monitor.Reading{
			{Component: monitor.ComponentDatabase, Status: monitor.StatusOK},
			{Component: monitor.ComponentLicense, Status: monitor.StatusError},
			{Component: monitor.ComponentService, Status: monitor.StatusOK},
		},
		Connectors: monitor.Reading{Component: monitor.ComponentConnectorHealth, Status: monitor.StatusOK}, ConnectorsRead: true,
		ConnectorList: connectors,
	}
}

func show(ds []types.MetricDatum) []string {
	var out []string
	for _, d := range ds {
		var dims []string
		for _, x := range d.Dimensions {
			dims = append(dims, aws.ToString(x.Name)+"="+aws.ToString(x.Value))
		}
		out = append(out, fmt.Sprintf("%s{%s}=%g", aws.ToString(d.MetricName), strings.Join(dims, ","), aws.ToFloat64(d.Value)))
	}
	slices.Sort(out)
	return out
}

func sampleRun() metrics.Run {
	a := up("a", monitor.Reading{Component: "connector:nuget.org", Status: monitor.StatusOK},
		monitor.Reading{Component: "connector:npmjs.org", Status: monitor.StatusError})
	a.Health = append(a.Health, monitor.Reading{Component: monitor.ComponentReplicationClient, Status: monitor.StatusOK})
	down := monitor.Observation{Target: monitor.Target{Name: "b"}, NetworkFailure: true,
		Instance: monitor.Reading{Status: monitor.StatusDown, Detail: "connection refused"}}
	return metrics.Run{TargetsPath: "/t/", Checked: []metrics.Instance{{Observation: a}, {Observation: down, Alerting: true}},
		Invalid: 1, Skipped: 2}
}

func TestDatumsPerLevel(t *testing.T) {
	fleet := []string{
		"InstancesAlerting{TargetsPath=/t/}=1", "InstancesChecked{TargetsPath=/t/}=2", "InstancesInMaintenance{TargetsPath=/t/}=0",
		"InstancesUnhealthy{TargetsPath=/t/}=2", "InvalidTargets{TargetsPath=/t/}=1", "SkippedInstances{TargetsPath=/t/}=2",
	}
	instance := append(slices.Clone(fleet), "Alerting{Instance=a}=0", "Alerting{Instance=b}=1", "ResponseTime{Instance=a}=42")
	full := append(slices.Clone(instance), "Healthy{Instance=a}=0", "Healthy{Instance=b}=0",
		"ConnectorHealthy{Instance=a,Connector=npmjs.org}=0", "ConnectorHealthy{Instance=a,Connector=nuget.org}=1",
		"ConnectorsHealthy{Instance=a}=1", "ConnectorsUnhealthy{Instance=a}=1", "DatabaseHealthy{Instance=a}=1",
		"LicenseHealthy{Instance=a}=0", "ReplicationHealthy{Instance=a}=1", "ServiceHealthy{Instance=a}=1",
		"Up{Instance=a}=1", "Up{Instance=b}=0")
	for level, want := range map[metrics.Level][]string{metrics.LevelFleet: fleet, metrics.LevelInstance: instance, metrics.LevelFull: full} {
		slices.Sort(want)
		if got := show(metrics.Datums(sampleRun(), level)); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", level, got, want)
		}
	}
}

// seriesPerInstance counts the distinct series a level publishes for one
// instance: what the bill is made of.
func TestSeriesPerInstance(t *testing.T) {
	conns := make([]monitor.Reading, 3)
	for i := range conns {
		conns[i] = monitor.Reading{Component: fmt.Sprintf("connector:c%d", i), Status: monitor.StatusOK}
	}
	run := metrics.Run{TargetsPath: "/t/", Checked: []metrics.Instance{{Observation: up("a", conns...)}}}
	for level, want := range map[metrics.Level]int{metrics.LevelFleet: 0, metrics.LevelInstance: 2, metrics.LevelFull: 2 + 7 + 3} {
		n := 0
		for _, d := range metrics.Datums(run, level) {
			if len(d.Dimensions) > 0 && aws.ToString(d.Dimensions[0].Name) == metrics.DimInstance {
				n++
			}
		}
		if n != want {
			t.Errorf("%s: %d series per instance, want %d", level, n, want)
		}
	}
}

func TestDimensionValue(t *testing.T) {
	long := strings.Repeat("a", 1500)
	for in, want := range map[string]string{
		"prod-eu":                 "prod-eu",
		"team a/prod":             "team a/prod",
		"prüf":                    "pr%C3%BCf",
		"50%":                     "50%",
		"50% prüf":                "50%25 pr%C3%BCf",
		"":                        "(empty)",
		"   ":                     "(empty)",
		"tab\there":               "tab%09here",
		strings.Repeat("a", 1024): strings.Repeat("a", 1024),
	} {
		if got := metrics.DimensionValue(in); got != want {
			t.Errorf("DimensionValue(%q) = %q, want %q", in, got, want)
		}
	}
	got := metrics.DimensionValue(long + "é")
	if len(got) > metrics.MaxDimensionValue || got != metrics.DimensionValue(long+"é") || got == metrics.DimensionValue(long+"è") {
		t.Errorf("a long name must map to a stable, distinct value of at most 1024 characters: %d %q", len(got), got[990:])
	}
}

func TestBatchesRespectCountAndSize(t *testing.T) {
	var ds []types.MetricDatum
	for i := range 2500 {
		ds = append(ds, types.MetricDatum{MetricName: aws.String("M"), Value: aws.Float64(float64(i))})
	}
	if b := metrics.Batches(ds); len(b) != 3 || len(b[0]) != 1000 || len(b[2]) != 500 {
		t.Errorf("2500 small datums: %d batches", len(b))
	}
	var big []types.MetricDatum
	for range 1000 {
		big = append(big, types.MetricDatum{MetricName: aws.String("ConnectorHealthy"), Value: aws.Float64(1), Dimensions: []types.Dimension{
			{Name: aws.String("Instance"), Value: aws.String(strings.Repeat("i", 1024))},
			{Name: aws.String("Connector"), Value: aws.String(strings.Repeat("c", 1024))}}})
	}
	batches := metrics.Batches(big)
	total := 0
	for i, b := range batches {
		total += len(b)
		// JSON is larger than the CBOR the SDK sends: within 1 MB as JSON is
		// within CloudWatch's 1 MB per request.
		if js, _ := json.Marshal(b); len(b) > 1000 || len(js) > 1_000_000 {
			t.Errorf("batch %d: %d datums, %d bytes as JSON", i, len(b), len(js))
		}
	}
	if total != len(big) || len(batches) < 3 {
		t.Errorf("1000 datums of 2 KB each: %d batches holding %d datums", len(batches), total)
	}
	nan := []types.MetricDatum{{MetricName: aws.String("M"), Value: aws.Float64(0)}, {MetricName: aws.String("M"), Value: aws.Float64(nanValue())}}
	if b := metrics.Batches(nan); len(b) != 1 || len(b[0]) != 1 {
		t.Errorf("NaN must be left out: %v", b)
	}
}

func nanValue() float64 { var z float64; return z / z }

// TestPushToCloudWatch publishes through the real SDK to the local stack
// (CloudWatch is served by kumo on every backend) and reads the series back.
func TestPushToCloudWatch(t *testing.T) {
	stack, cfg := localaws.ForTest(t)
	ns := localaws.Name(t, "Metrics")
	cw := cloudwatch.NewFromConfig(cfg)
	run := sampleRun()
	run.Checked[0].Observation.Target.Name = "prüf-instanz"
	stack.ResetCalls()
	n, err := metrics.NewCloudWatch(cw, ns, metrics.LevelFull).Push(context.Background(), run)
	if err != nil || n != len(metrics.Datums(run, metrics.LevelFull)) {
		t.Fatalf("pushed %d, %v", n, err)
	}
	if calls := stack.Calls()["monitoring.PutMetricData"]; calls != 1 {
		t.Errorf("%d PutMetricData calls for one small run", calls)
	}
	lm, err := cw.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{Namespace: aws.String(ns),
		MetricName: aws.String(metrics.Alerting)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range lm.Metrics {
		got = append(got, aws.ToString(m.Dimensions[0].Value))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "pr%C3%BCf-instanz"}) {
		t.Errorf("Alerting series %q", got)
	}
}

// A run that could not read the state does not know what is confirmed: it
// publishes no Alerting, so that an alarm does not read 0 and return to OK.
func TestStateUnknownPublishesNoConfirmedMetrics(t *testing.T) {
	run := sampleRun()
	run.StateUnknown = true
	for _, d := range metrics.Datums(run, metrics.LevelFull) {
		if n := aws.ToString(d.MetricName); n == metrics.Alerting || n == metrics.InstancesAlerting {
			t.Errorf("published %s while the state was unknown", n)
		}
	}
	if got := show(metrics.Datums(run, metrics.LevelInstance)); !slices.Contains(got, "InstancesChecked{TargetsPath=/t/}=2") {
		t.Errorf("the raw metrics must still be published: %q", got)
	}
}
