package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/run"
)

// failFirst fails the first n calls of each operation that match.
func failFirst(n int, match func(op string) bool, inj localaws.Injection) localaws.Fault {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(op string) localaws.Injection {
		if !match(op) {
			return localaws.Injection{}
		}
		mu.Lock()
		defer mu.Unlock()
		seen[op]++
		if seen[op] <= n {
			return inj
		}
		return localaws.Injection{}
	}
}

func TestAWSThrottlingAndServerErrorsAreRetried(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"TARGETS_CACHE_TTL": "0s"})
		w.mustRun()
		w.proget["prod-eu"].SetDatabaseError("down")
		throttle := failFirst(2, func(op string) bool {
			return strings.HasPrefix(op, "ssm.") || strings.HasPrefix(op, "dynamodb.")
		}, localaws.Fail(400, "ThrottlingException"))
		fiveHundred := failFirst(2, func(op string) bool {
			return strings.HasPrefix(op, "sns.") || strings.HasPrefix(op, "monitoring.")
		}, localaws.Fail(503, "ServiceUnavailable"))
		w.stack.SetFault(func(op string) localaws.Injection {
			if inj := throttle(op); inj.Status != 0 {
				return inj
			}
			return fiveHundred(op)
		})
		w.stack.ResetCalls()
		got := w.mustRun()
		expectSubjects(t, "through throttling and 503s", got, "ProGet prod-eu: database Error")
		if w.summary.MetricsPublished == 0 || len(w.summary.Errors) != 0 {
			t.Errorf("summary %+v", w.summary)
		}
		calls := w.stack.Calls()
		for _, op := range []string{"ssm.GetParametersByPath", "dynamodb.BatchGetItem", "dynamodb.PutItem", "sns.Publish", "monitoring.PutMetricData"} {
			if calls[op] < 3 {
				t.Errorf("%s called %d times: the faults were not retried through", op, calls[op])
			}
		}
		expectSubjects(t, "after", w.mustRun())
	})
}

func TestStateUnwritableAlertsNothingAndDamagesNothing(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		before := w.stored("prod-eu")
		w.proget["prod-eu"].SetDatabaseError("down")
		w.stack.SetFault(localaws.FailOn("dynamodb.PutItem", 400, "AccessDeniedException"))
		got, err := w.run(`{}`)
		if errorType(err) != run.StateUnwritable || !strings.Contains(err.Error(), "prod-eu") {
			t.Fatalf("err = %v, want a StateUnwritable failure naming the instance", err)
		}
		expectSubjects(t, "state unwritable", got)
		if after := w.stored("prod-eu"); after.Version != before.Version || after.Components["database"].Status != "OK" {
			t.Errorf("stored state changed: %+v", after)
		}
		w.stack.SetFault(nil)
		expectSubjects(t, "state writable again", w.mustRun(), "ProGet prod-eu: database Error")
	})
}

func TestMetricsFailureDoesNotStopAlerts(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.proget["prod-us"].Stop()
		w.stack.SetFault(localaws.FailOn("monitoring.PutMetricData", 400, "AccessDenied"))
		expectSubjects(t, "metrics failing", w.mustRun(), "ProGet prod-us: DOWN")
		if w.summary.MetricsPublished != 0 || len(w.summary.Errors) != 1 || !strings.Contains(w.summary.Errors[0], "datums") {
			t.Errorf("the summary must report the metrics failure: %+v", w.summary)
		}
		if w.stored("prod-us").Components["instance"].Status != "Down" {
			t.Errorf("state not saved while metrics failed")
		}
	})
}

// TestDeadlineWithASlowInstance: a run keeps time, before the Lambda deadline,
// to store what it checked; an instance it could not finish is not called
// down, and it is named in the log and in the run's error.
func TestDeadlineWithASlowInstance(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"CHECK_TIMEOUT": "30s"})
		w.mustRun()
		w.proget["prod-eu"].SetLatency(time.Minute)
		w.proget["prod-us"].SetLicenseError("expired")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		w.clock = w.clock.Add(5 * time.Minute)
		out, err := w.app.handle(ctx, json.RawMessage(`{}`))
		if ctx.Err() != nil {
			t.Fatalf("the run overran its deadline")
		}
		if errorType(err) != run.DeadlineReached || !strings.Contains(err.Error(), "1 of 3 instances were not checked before the deadline (prod-eu)") {
			t.Errorf("err = %v", err)
		}
		sum, _ := out.(run.Summary)
		if sum.Checked != 2 || sum.Skipped != 1 || sum.Down != 0 || len(sum.SkippedInstances) != 1 || sum.SkippedInstances[0] != "prod-eu" {
			t.Errorf("summary %+v: the slow instance must be skipped, not down", sum)
		}
		if !strings.Contains(w.logs.String(), `"msg":"instance not checked before the deadline","instance":"prod-eu"`) {
			t.Errorf("no log line names the skipped instance")
		}
		expectSubjects(t, "short deadline", w.received(), "ProGet prod-us: license Error")
		if st := w.stored("prod-eu"); st.Components["instance"].Status != "OK" {
			t.Errorf("the unfinished instance's state changed: %+v", st.Components["instance"])
		}
	})
}

// TestDeadlineBeforeSomeChecksStart: instances still waiting for a check slot
// when the deadline comes are skipped, never called down.
func TestDeadlineBeforeSomeChecksStart(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"CHECK_TIMEOUT": "30s", "MAX_CONCURRENCY": "1"})
		w.mustRun()
		w.proget["build-eu"].SetLatency(time.Minute) // first in name order, holds the only slot
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		w.clock = w.clock.Add(5 * time.Minute)
		out, err := w.app.handle(ctx, json.RawMessage(`{}`))
		sum, _ := out.(run.Summary)
		if errorType(err) != run.DeadlineReached || sum.Skipped != 3 || sum.Down != 0 || sum.Checked != 0 {
			t.Errorf("summary %+v, err %v: every instance must be skipped", sum, err)
		}
		expectSubjects(t, "nothing checked in time", w.received())
	})
}
