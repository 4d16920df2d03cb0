package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/run"
	"github.com/proget-monitor/proget-monitor/internal/runtimeapi"
)

// buildBootstrap builds the function as the Makefile does, for this machine.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	return bin
}

// TestBootstrapThroughRuntimeAPI runs the real binary as Lambda does, with each
// event in events/.
func TestBootstrapThroughRuntimeAPI(t *testing.T) {
	bin := buildBootstrap(t)
	each(t, func(t *testing.T, b localaws.Backend) { testBootstrap(t, b, bin) })
}

func testBootstrap(t *testing.T, b localaws.Backend, bin string) {
	w := newWorld(t, b, nil)
	shard := "/" + strings.Trim(w.path, "/") + "-shard/"
	w.putParam(shard+"solo/url", w.proget["prod-us"].URL(), false)

	logs := &syncBuffer{}
	fn, err := runtimeapi.StartFunction(bin, w.env(), logs)
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	ctx := context.Background()
	if _, err := fn.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		event   string
		shard   string
		checked int
	}{
		{"scheduled-rule.json", "", 3},
		{"scheduler.json", "", 3},
		{"shard.json", shard, 1}, // its targetsPath, pointed at this test's shard
		{"ssm-change.json", "", 0},
	} {
		payload, err := os.ReadFile(filepath.Join("..", "..", "events", tc.event))
		if err != nil {
			t.Fatal(err)
		}
		if tc.shard != "" {
			var event map[string]any
			if err := json.Unmarshal(payload, &event); err != nil || event["targetsPath"] == nil {
				t.Fatalf("%s must be an object with a targetsPath: %s", tc.event, payload)
			}
			event["targetsPath"] = tc.shard
			payload, _ = json.Marshal(event)
		}
		res, err := fn.Invoke(ctx, payload, 20*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.event, err)
		}
		if res.Err != nil {
			t.Fatalf("%s: the function failed: %v", tc.event, res.Err)
		}
		if tc.event == "ssm-change.json" {
			if !strings.Contains(string(res.Payload), `"targetsChanged":true`) {
				t.Errorf("%s: answer %s", tc.event, res.Payload)
			}
			continue
		}
		var sum run.Summary
		if err := json.Unmarshal(res.Payload, &sum); err != nil {
			t.Fatalf("%s: answer %s is not a summary: %v", tc.event, res.Payload, err)
		}
		if sum.Checked != tc.checked || sum.Healthy != tc.checked {
			t.Errorf("%s: summary %+v, want %d checked and healthy", tc.event, sum, tc.checked)
		}
	}
	// A failing run reports what failed as its error type.
	res, err := fn.Invoke(ctx, []byte(`{"targetsPath":"/nothing-here/"}`), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil || res.Err.Type != "NoTargets" || !strings.Contains(res.Err.Message, "/nothing-here/") {
		t.Errorf("a run with nothing to check: error %+v, want type NoTargets naming the path", res.Err)
	}
	fn.Close()
	for line := range strings.Lines(logs.String()) {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			t.Errorf("a log line is not JSON: %q", line)
			continue
		}
		if entry["requestId"] == nil || !strings.HasPrefix(entry["requestId"].(string), "local-") {
			t.Errorf("a log line lacks the request id: %q", line)
		}
	}
}

// TestBootstrapWithBadConfigFailsEachInvoke: the function starts, and every
// invocation fails with a message naming the setting, as a
// ConfigurationError, logged as JSON with the request id.
func TestBootstrapWithBadConfigFailsEachInvoke(t *testing.T) {
	bin := buildBootstrap(t)
	logs := &syncBuffer{}
	fn, err := runtimeapi.StartFunction(bin, []string{"ALERT_TOPIC_ARN=arn:aws:sns:us-east-1:1:t", "FAILURE_THRESHOLD=zero"}, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	res, err := fn.Invoke(context.Background(), []byte(`{}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil || res.Err.Type != "ConfigurationError" || !strings.Contains(res.Err.Message, "STATE_TABLE is required") ||
		!strings.Contains(res.Err.Message, `FAILURE_THRESHOLD: "zero"`) {
		t.Errorf("error = %+v, want a ConfigurationError naming STATE_TABLE and FAILURE_THRESHOLD", res.Err)
	}
	fn.Close()
	lines := 0
	for line := range strings.Lines(logs.String()) {
		lines++
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			t.Errorf("a log line is not JSON: %q", line)
			continue
		}
		if id, _ := entry["requestId"].(string); id != res.RequestID {
			t.Errorf("a log line lacks the request id %s: %q", res.RequestID, line)
		}
	}
	if lines == 0 || !strings.Contains(logs.String(), "STATE_TABLE is required") {
		t.Errorf("the configuration error was not logged:\n%s", logs.String())
	}
}

// TestKilledBetweenClaimAndPublish: a function process killed after it claimed
// an alert but before SNS took it leaves the alert in the outbox; once its lease
// (its deadline) is over, the next run delivers it, once.
func TestKilledBetweenClaimAndPublish(t *testing.T) {
	bin := buildBootstrap(t)
	each(t, func(t *testing.T, b localaws.Backend) { testKilledBetweenClaimAndPublish(t, b, bin) })
}

func testKilledBetweenClaimAndPublish(t *testing.T, b localaws.Backend, bin string) {
	w := newWorld(t, b, nil)
	start := func() *runtimeapi.Function {
		fn, err := runtimeapi.StartFunction(bin, w.env(), &syncBuffer{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fn.Close)
		return fn
	}
	ctx := context.Background()
	invoke := func(fn *runtimeapi.Function, timeout time.Duration) {
		res, err := fn.Invoke(ctx, []byte(`{}`), timeout)
		if err != nil || res.Err != nil {
			t.Fatalf("invoke: %v %v", err, res.Err)
		}
	}
	first := start()
	invoke(first, 10*time.Second)

	w.proget["prod-eu"].SetDatabaseError("down")
	w.stack.SetFault(func(op string) localaws.Injection {
		if op == "sns.Publish" {
			return localaws.Injection{Delay: time.Minute} // SNS never answers
		}
		return localaws.Injection{}
	})
	const timeout = 3 * time.Second
	go first.Invoke(ctx, []byte(`{}`), timeout)
	claimed := time.Now()
	for len(w.stored("prod-eu").Outbox) == 0 {
		if time.Since(claimed) > 10*time.Second {
			t.Fatal("the run never claimed the alert")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Kill()
	w.stack.SetFault(nil)
	if got := w.received(); len(got) != 0 {
		t.Fatalf("an alert went out before the kill: %v", subjects(got))
	}

	second := start()
	invoke(second, 10*time.Second) // the dead run's lease still holds
	expectSubjects(t, "while the dead run's lease holds", w.received())
	time.Sleep(time.Until(claimed.Add(timeout)))
	invoke(second, 10*time.Second)
	expectSubjects(t, "after the lease", w.received(), "ProGet prod-eu: database Error")
	invoke(second, 10*time.Second)
	expectSubjects(t, "once", w.received())
}

// env is the environment the template gives the function, pointed at the
// world's stack.
func (w *world) env() []string {
	return append(w.stack.Env(), "STATE_TABLE="+w.table, "ALERT_TOPIC_ARN="+w.people.TopicARN, "EVENT_TOPIC_ARN="+w.programs.TopicARN,
		"TARGETS_PATH="+w.path, "METRICS_NAMESPACE="+w.ns, "CHECK_TIMEOUT=2s")
}
