package metrics_test

import (
	"context"
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
		Target: monitor.Target{Name: name}, Up: true, HTTPStatus: 200, ResponseTime: 42 * time.Millisecond, HealthRead: true,
		Health: []monitor.Reading{
			{Component: monitor.ComponentDatabase, Status: monitor.StatusOK},
			{Component: monitor.ComponentLicense, Status: monitor.StatusError},
			{Component: monitor.ComponentService, Status: monitor.StatusOK},
		},
		Connectors: monitor.Reading{Component: monitor.ComponentConnectorHealth, Status: monitor.StatusOK}, ConnectorsRead: true,
		ConnectorList: connectors,
	}
}

func render(ds []types.MetricDatum) []string {
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

func TestDatums(t *testing.T) {
	a := up("a", monitor.Reading{Component: "connector:nuget.org", Status: monitor.StatusOK},
		monitor.Reading{Component: "connector:npmjs.org", Status: monitor.StatusError})
	a.Health = append(a.Health, monitor.Reading{Component: monitor.ComponentReplicationClient, Status: monitor.StatusOK})
	down := monitor.Observation{Target: monitor.Target{Name: "b"}, Reason: "connection refused", NetworkFailure: true}
	got := render(metrics.Datums([]monitor.Observation{a, down}, true))
	want := []string{
		"ConnectorHealthy{Instance=a,Connector=npmjs.org}=0",
		"ConnectorHealthy{Instance=a,Connector=nuget.org}=1",
		"ConnectorsHealthy{Instance=a}=1",
		"ConnectorsUnhealthy{Instance=a}=1",
		"DatabaseHealthy{Instance=a}=1",
		"Healthy{Instance=a}=0",
		"Healthy{Instance=b}=0",
		"InstancesChecked{}=2",
		"InstancesUnhealthy{}=2",
		"LicenseHealthy{Instance=a}=0",
		"ReplicationHealthy{Instance=a}=1",
		"ResponseTime{Instance=a}=42",
		"ServiceHealthy{Instance=a}=1",
		"Up{Instance=a}=1",
		"Up{Instance=b}=0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	without := render(metrics.Datums([]monitor.Observation{a}, false))
	for _, d := range without {
		if strings.HasPrefix(d, "ConnectorHealthy{") {
			t.Errorf("per-connector metrics switched off, got %s", d)
		}
	}
}

func TestPushBatchesOf1000(t *testing.T) {
	stack, cfg := localaws.ForTest(t)
	ns := localaws.Name(t, "ProGet")
	var obs []monitor.Observation
	var conns []monitor.Reading
	for i := range 30 {
		conns = append(conns, monitor.Reading{Component: fmt.Sprintf("connector:c%02d", i), Status: monitor.StatusOK})
	}
	for i := range 60 {
		obs = append(obs, up(fmt.Sprintf("i%02d", i), conns...))
	}
	want := len(metrics.Datums(obs, true)) // 60 * (7 + 30) + 2 = 2222
	stack.ResetCalls()
	n, err := metrics.NewCloudWatch(cloudwatch.NewFromConfig(cfg), ns, true).Push(context.Background(), obs)
	if err != nil || n != want {
		t.Fatalf("pushed %d of %d: %v", n, want, err)
	}
	if calls := stack.Calls()["monitoring.PutMetricData"]; calls != 3 {
		t.Errorf("PutMetricData calls = %d for %d datums, want 3", calls, want)
	}
	list, err := cloudwatch.NewFromConfig(cfg).ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{
		Namespace: aws.String(ns), MetricName: aws.String("ConnectorHealthy")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Metrics) == 0 {
		t.Errorf("no ConnectorHealthy series in %s", ns)
	}
}

func TestPushFailureIsReported(t *testing.T) {
	stack, cfg := localaws.ForTest(t)
	stack.SetFault(func(op string) localaws.Injection { return localaws.Fail(400, "AccessDenied") })
	_, err := metrics.NewCloudWatch(cloudwatch.NewFromConfig(cfg), "X", true).Push(context.Background(), []monitor.Observation{up("a")})
	if err == nil || !strings.Contains(err.Error(), "namespace X") {
		t.Errorf("err = %v", err)
	}
}
