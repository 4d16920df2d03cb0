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
	"github.com/proget-monitor/proget-monitor/internal/monitor"
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
	w := newWorld(t, nil)
	shard := "/" + strings.Trim(w.path, "/") + "-shard/"
	w.putParam(shard+"solo/url", w.proget["prod-us"].URL(), false)

	logs := &syncBuffer{}
	env := append(w.stack.Env(), "STATE_TABLE="+w.table, "ALERT_TOPIC_ARN="+w.queue.TopicARN,
		"TARGETS_PATH="+w.path, "METRICS_NAMESPACE="+w.ns, "CHECK_TIMEOUT=2s")
	fn, err := runtimeapi.StartFunction(bin, env, logs)
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
		payload string
		checked int
	}{
		{"scheduled-rule.json", "", 3},
		{"scheduler.json", "", 3},
		{"shard", `{"targetsPath":"` + shard + `"}`, 1},
	} {
		payload := []byte(tc.payload)
		if tc.payload == "" {
			var err error
			if payload, err = os.ReadFile(filepath.Join("..", "..", "events", tc.event)); err != nil {
				t.Fatal(err)
			}
		}
		res, err := fn.Invoke(ctx, payload, 20*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.event, err)
		}
		if res.Err != nil {
			t.Fatalf("%s: the function failed: %v", tc.event, res.Err)
		}
		var sum monitor.Summary
		if err := json.Unmarshal(res.Payload, &sum); err != nil {
			t.Fatalf("%s: answer %s is not a summary: %v", tc.event, res.Payload, err)
		}
		if sum.Checked != tc.checked || sum.Healthy != tc.checked {
			t.Errorf("%s: summary %+v, want %d checked and healthy", tc.event, sum, tc.checked)
		}
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
// invocation fails with a message naming the setting.
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
	if res.Err == nil || !strings.Contains(res.Err.Message, "STATE_TABLE is required") || !strings.Contains(res.Err.Message, `FAILURE_THRESHOLD: "zero"`) {
		t.Errorf("error = %v, want it to name STATE_TABLE and FAILURE_THRESHOLD", res.Err)
	}
}

// TestKilledBetweenClaimAndPublish: a function process killed after it claimed
// an alert but before SNS took it leaves the alert in the outbox; once its lease
// (its deadline) is over, the next run delivers it, once.
func TestKilledBetweenClaimAndPublish(t *testing.T) {
	bin := buildBootstrap(t)
	w := newWorld(t, nil)
	env := append(w.stack.Env(), "STATE_TABLE="+w.table, "ALERT_TOPIC_ARN="+w.queue.TopicARN,
		"TARGETS_PATH="+w.path, "METRICS_NAMESPACE="+w.ns, "CHECK_TIMEOUT=2s")
	start := func() *runtimeapi.Function {
		fn, err := runtimeapi.StartFunction(bin, env, &syncBuffer{})
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
	if got, _ := w.queue.Receive(ctx); len(got) != 0 {
		t.Fatalf("an alert went out before the kill: %v", subjects(got))
	}

	second := start()
	invoke(second, 10*time.Second) // the dead run's lease still holds
	got, _ := w.queue.Receive(ctx)
	expectSubjects(t, "while the dead run's lease holds", got)
	time.Sleep(time.Until(claimed.Add(timeout)))
	invoke(second, 10*time.Second)
	got, _ = w.queue.Receive(ctx)
	expectSubjects(t, "after the lease", got, "ProGet prod-eu: database Error")
	invoke(second, 10*time.Second)
	got, _ = w.queue.Receive(ctx)
	expectSubjects(t, "once", got)
}
