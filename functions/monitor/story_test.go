package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/render"
	"github.com/proget-monitor/proget-monitor/internal/run"
)

func TestWholeRunStory(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"METRICS": "full"})

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
			if d.Attributes[render.AttrInstance] != "prod-eu" || d.Attributes[render.AttrSeverity] != "critical" || d.Attributes[render.AttrAlertID] == "" {
				t.Errorf("attributes %v", d.Attributes)
			}
			if !strings.Contains(d.Message, "database: OK -> Error") || !strings.Contains(d.Message, "SQL Server") {
				t.Errorf("the e-mail text:\n%s", d.Message)
			}
		}
		if st := w.stored("prod-eu"); st.Components["database"].Status != monitor.StatusError || len(st.Outbox) != 0 || st.Version != 3 {
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
			if d.Attributes[render.AttrSeverity] != "resolved" {
				t.Errorf("%s: severity %q, want resolved", d.Subject, d.Attributes[render.AttrSeverity])
			}
		}
		expectSubjects(t, "quiet again", w.mustRun())

		have := w.series()
		for _, want := range []string{
			"Up{Instance=prod-us}", "Healthy{Instance=prod-eu}", "Alerting{Instance=prod-eu}", "ResponseTime{Instance=build-eu}",
			"DatabaseHealthy{Instance=prod-eu}", "LicenseHealthy{Instance=prod-us}", "ServiceHealthy{Instance=build-eu}",
			"ConnectorsHealthy{Instance=build-eu}", "ConnectorsUnhealthy{Instance=build-eu}",
			"ConnectorHealthy{Connector=nuget.org,Instance=build-eu}", "InstancesChecked{TargetsPath=" + w.path + "}",
			"InstancesAlerting{TargetsPath=" + w.path + "}", "InstancesUnhealthy{TargetsPath=" + w.path + "}",
		} {
			if !have[want] {
				t.Errorf("metric %s missing; have %v", want, have)
			}
		}
		if have["ConnectorsHealthy{Instance=prod-eu}"] || have["ReplicationHealthy{Instance=prod-eu}"] {
			t.Errorf("metrics for what prod-eu does not have: %v", have)
		}
	})
}

func TestSteadyStateWritesNothing(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.stack.ResetCalls()
		w.mustRun()
		calls := w.functionCalls()
		if calls["dynamodb.PutItem"] != 0 || calls["sns.Publish"] != 0 || calls["ssm.GetParametersByPath"] != 0 {
			t.Errorf("a run with nothing changed wrote state, published or read SSM: %v", calls)
		}
		if calls["dynamodb.BatchGetItem"] != 1 || calls["monitoring.PutMetricData"] != 1 || len(calls) != 2 {
			t.Errorf("calls = %v, want one BatchGetItem and one PutMetricData", calls)
		}
		if !w.summary.TargetsCached {
			t.Errorf("the summary must say SSM was not read")
		}
	})
}

func TestPublishFailureIsRetriedOnce(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.proget["prod-eu"].SetLicenseError("The license has expired.")
		w.stack.SetFault(localaws.FailOn("sns.Publish", 500, "InternalError"))
		got, err := w.run(`{}`)
		if errorType(err) != run.AlertsUndelivered || !strings.Contains(err.Error(), "stays pending") {
			t.Fatalf("a run whose publish failed must fail as AlertsUndelivered and say the alert is pending; got %v", err)
		}
		expectSubjects(t, "topic failing", got)
		if st := w.stored("prod-eu"); len(st.Outbox) != 1 || !st.Outbox[0].Tried {
			t.Fatalf("the undelivered alert is not kept as maybe published: outbox %+v", st.Outbox)
		}
		w.stack.SetFault(nil)
		expectSubjects(t, "topic back", w.mustRun(), "ProGet prod-eu: license Error")
		expectSubjects(t, "delivered once", w.mustRun())
		if st := w.stored("prod-eu"); len(st.Outbox) != 0 {
			t.Errorf("outbox not cleared: %+v", st.Outbox)
		}
	})
}

func TestOverlappingRunsAlertOnce(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.proget["prod-eu"].SetServiceError("The service is stopped.")
		w.clock = w.clock.Add(5 * 60e9)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = w.invoke(`{}`) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("run failed: %v", err)
			}
		}
		expectSubjects(t, "four overlapping runs", w.received(), "ProGet prod-eu: service Error")
	})
}

func TestStateUnreadableAlertsNothing(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.proget["prod-eu"].SetDatabaseError("down")
		w.stack.SetFault(localaws.FailOn("dynamodb.BatchGetItem", 400, "AccessDeniedException"))
		got, err := w.run(`{}`)
		if errorType(err) != run.StateUnreadable || !strings.Contains(err.Error(), "read state from table") {
			t.Fatalf("err = %v, want a StateUnreadable failure", err)
		}
		expectSubjects(t, "state unreadable", got)
		if w.summary.MetricsPublished == 0 {
			t.Errorf("metrics not pushed while state was unreadable: %+v", w.summary)
		}
		w.stack.SetFault(nil)
		expectSubjects(t, "state readable again", w.mustRun(), "ProGet prod-eu: database Error")
	})
}

func TestTargetsUnreadableFailsTheRun(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.stack.SetFault(func(op string) localaws.Injection {
			if strings.HasPrefix(op, "ssm.") {
				return localaws.Fail(400, "AccessDeniedException")
			}
			return localaws.Injection{}
		})
		got, err := w.run(`{}`)
		if errorType(err) != run.TargetsUnreadable || !strings.Contains(err.Error(), "read targets under "+w.path) {
			t.Fatalf("err = %v", err)
		}
		expectSubjects(t, "targets unreadable", got)
		if w.summary.Down != 0 {
			t.Errorf("instances reported down when SSM failed: %+v", w.summary)
		}
	})
}

// A path with no instance is a failure that names the path and what it
// found, and the heartbeat sees zero instances checked.
func TestNoTargetsFailsTheRun(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		empty := "/" + localaws.Name(t, "empty") + "/"
		_, err := w.run(fmt.Sprintf(`{"targetsPath": %q}`, empty))
		if errorType(err) != run.NoTargets || !strings.Contains(err.Error(), "no parameter under "+empty) {
			t.Errorf("an empty path: %v", err)
		}
		typo := "/" + localaws.Name(t, "typo") + "/"
		w.putParam(typo+"prod-eu/uri", "https://proget.example", false)
		_, err = w.run(fmt.Sprintf(`{"targetsPath": %q}`, typo))
		if errorType(err) != run.NoTargets || !strings.Contains(err.Error(), typo+"prod-eu/url") {
			t.Errorf("a path whose instance has no url: %v", err)
		}
		if n, max := w.metricStats("InstancesChecked", "TargetsPath", empty); n != 1 || max != 0 {
			t.Errorf("InstancesChecked for the empty path: %d samples, max %g; want one 0", n, max)
		}
	})
}

func TestInvalidTargetIsSkippedOthersChecked(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
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
		if n, max := w.metricStats("InvalidTargets", "TargetsPath", w.path); n != 2 || max != 1 {
			t.Errorf("InvalidTargets: %d samples, max %g", n, max)
		}
	})
}

func TestEventTargetsPathSelectsAShard(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
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
		if _, err := w.run(`{"targetsPath": 5}`); errorType(err) != "InvalidEvent" || !strings.Contains(err.Error(), "targetsPath") {
			t.Errorf("a bad targetsPath must fail the run: %v", err)
		}
	})
}

// TestAPIKeyNeverLeaks scans everything runs produce, on good and failing
// paths, for any eight consecutive characters of the key.
func TestAPIKeyNeverLeaks(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
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
		w.proget["build-eu"].SetCrash("System.Exception: boom " + strings.Repeat("x", 280) + apiKey)
		w.stack.SetFault(localaws.FailOn("sns.Publish", 500, "InternalError"))
		got, err := w.run(`{}`)
		collect(got)
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
		var stored []map[string]any
		if err := attributevalue.UnmarshalListOfMaps(items.Items, &stored); err != nil {
			t.Fatal(err)
		}
		dump, _ := json.Marshal(stored)
		if !strings.Contains(string(dump), "boom") {
			t.Fatalf("the stored state must hold the crash's text, to be searched for the key:\n%.2000s", dump)
		}
		everything.Write(dump)
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

		all := everything.String()
		if !strings.Contains(all, "API key rejected") {
			t.Fatalf("the rejected-key path was not exercised:\n%s", all)
		}
		for i := 0; i+8 <= len(apiKey); i++ {
			if strings.Contains(all, apiKey[i:i+8]) {
				t.Fatalf("%q, a part of the API key, appears in what the runs produced", apiKey[i:i+8])
			}
		}
	})
}

// errorType is the errorType Lambda reports for a handler's error.
func errorType(err error) string {
	var ie messages.InvokeResponse_Error
	if errors.As(err, &ie) {
		return ie.Type
	}
	return ""
}
