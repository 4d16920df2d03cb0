package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(func(k string) string {
		return map[string]string{"STATE_TABLE": "t", "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.TargetsPath != "/proget-monitor/targets/" || c.MetricsNamespace != "ProGet" || c.FailureThreshold != 1 ||
		c.RecoveryThreshold != 1 || c.CheckTimeout != 10*time.Second || c.MaxConcurrency != 128 || !c.ConnectorMetrics {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadConfigNamesEveryProblem(t *testing.T) {
	env := map[string]string{"ALERT_TOPIC_ARN": "alerts", "FAILURE_THRESHOLD": "0", "CHECK_TIMEOUT": "ten",
		"TARGETS_PATH": "proget", "LOG_LEVEL": "loud", "CONNECTOR_METRICS": "maybe"}
	_, err := loadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"STATE_TABLE is required", "ALERT_TOPIC_ARN: \"alerts\" is not an ARN",
		"FAILURE_THRESHOLD: \"0\" is not a whole number from 1 to 100", "CHECK_TIMEOUT: \"ten\" is not a duration",
		"TARGETS_PATH", "LOG_LEVEL", "CONNECTOR_METRICS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestTargetsPathOfEvent(t *testing.T) {
	for event, want := range map[string]string{
		`{"detail-type":"Scheduled Event","detail":{}}`: "/default/",
		`{}`:                              "/default/",
		`null`:                            "/default/",
		`"just a string"`:                 "/default/",
		`{"targetsPath":"/shards/eu"}`:    "/shards/eu/",
		`{"targetsPath":null}`:            "/default/",
		`{"targetsPath":"relative/path"}`: "error",
		`{"targetsPath":["/a/"]}`:         "error",
	} {
		got, err := targetsPathOf(json.RawMessage(event), "/default/")
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("targetsPathOf(%s) = %q, want %q", event, got, want)
		}
	}
}
