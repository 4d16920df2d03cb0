package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// Targets are always fresh without reading SSM every run: SSM's change event
// marks the table, and the next run reads SSM again.
func TestChangeEventRefreshesTargets(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.stack.ResetCalls()
		w.mustRun()
		if n := w.stack.Calls()["ssm.GetParametersByPath"]; n != 0 {
			t.Fatalf("a steady run read SSM %d times", n)
		}

		in := w.addInstance("new-eu", progetsim.V2024)
		in.SetLicenseError("The license has expired.")
		w.stack.ResetCalls()
		out, err := w.invoke(parameterChangeEvent(w.path + "new-eu/url"))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(out); !strings.Contains(string(b), `"targetsChanged":true`) {
			t.Errorf("the change event's answer: %s", b)
		}
		calls := w.functionCalls()
		if calls["dynamodb.PutItem"] != 1 || len(calls) != 1 {
			t.Errorf("the change event must only record the change: %v", calls)
		}
		expectSubjects(t, "nothing is checked on a change event", w.received())

		// A change that cannot be recorded fails, saying when it is read.
		w.stack.SetFault(localaws.FailOn("dynamodb.PutItem", 400, "AccessDeniedException"))
		_, err = w.invoke(parameterChangeEvent(w.path + "new-eu/url"))
		w.stack.SetFault(nil)
		if errorType(err) != "ChangeNotRecorded" || !strings.Contains(err.Error(), "TARGETS_CACHE_TTL") {
			t.Errorf("an unrecorded change: %v", err)
		}

		w.stack.ResetCalls()
		got := w.mustRun()
		expectSubjects(t, "the next run checks the new instance", got, "ProGet new-eu: license Error")
		if w.summary.Checked != 4 || w.summary.TargetsCached {
			t.Errorf("summary %+v", w.summary)
		}
		if n := w.stack.Calls()["ssm.GetParametersByPath"]; n == 0 {
			t.Errorf("the run after a change did not read SSM")
		}

		w.deleteParam(w.path + "prod-us/url")
		w.changed(w.path + "prod-us/url")
		w.proget["prod-us"].Stop()
		expectSubjects(t, "a deleted instance is not checked", w.mustRun())
		if w.summary.Checked != 3 {
			t.Errorf("summary %+v", w.summary)
		}
		w.stack.ResetCalls()
		w.mustRun()
		if n := w.stack.Calls()["ssm.GetParametersByPath"]; n != 0 {
			t.Errorf("steady again: SSM read %d times", n)
		}
	})
}

// The cache's TTL is the safety net for a change whose event was lost.
func TestTargetsCacheExpires(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"TARGETS_CACHE_TTL": "10m"})
		w.mustRun()
		w.addInstance("quiet-eu", progetsim.V2026)
		w.mustRun()
		if w.summary.Checked != 3 {
			t.Errorf("a fresh cache was not used: %+v", w.summary)
		}
		w.mustRun()
		if w.summary.Checked != 4 {
			t.Errorf("an expired cache was used: %+v", w.summary)
		}
	})
}

// A cold read of many parameters finishes through SSM's throttling.
func TestThrottledColdReadFinishes(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		for i := range 27 {
			w.addInstance(fmt.Sprintf("fleet-%02d", i), progetsim.V2026)
		}
		var n atomic.Int32
		w.stack.SetFault(func(op string) localaws.Injection {
			if op == "ssm.GetParametersByPath" {
				if n.Add(1)%2 == 1 {
					return localaws.Fail(400, "ThrottlingException")
				}
			}
			return localaws.Injection{}
		})
		w.mustRun()
		if w.summary.Checked != 30 || n.Load() < 6 {
			t.Errorf("checked %d of 30 after %d SSM calls", w.summary.Checked, n.Load())
		}
	})
}
