package main

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/metrics"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(func(k string) string {
		return map[string]string{"STATE_TABLE": "t", "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.TargetsPath != "/proget-monitor/targets/" || c.MetricsNamespace != "ProGet" || c.FailureThreshold != 1 ||
		c.RecoveryThreshold != 1 || c.CheckTimeout != 10*time.Second || c.MaxConcurrency != 0 || c.Metrics != metrics.LevelInstance ||
		c.TargetsCacheTTL != time.Hour || c.StateTTL != 30*24*time.Hour || c.EventTopicARN != "" || c.Subnets != nil || c.CertWarningDays != 14 ||
		!c.VersionNotices || c.StormPercent != 50 || c.StormMinInstances != 3 || c.ReminderInterval != 0 || c.LogLevel != slog.LevelInfo {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadConfigReadsDaysAndLists(t *testing.T) {
	env := map[string]string{"STATE_TABLE": "t", "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts",
		"EVENT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:events", "REMINDER_INTERVAL": "1d", "STATE_TTL": "7d12h",
		"SUBNET_IDS": "subnet-0a1b2c3d, subnet-4e5f6a7b", "METRICS": "full"}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.ReminderInterval != 24*time.Hour || c.StateTTL != 7*24*time.Hour+12*time.Hour || len(c.Subnets) != 2 ||
		c.Subnets[1] != "subnet-4e5f6a7b" || c.Metrics != metrics.LevelFull || c.EventTopicARN == "" {
		t.Errorf("config %+v", c)
	}
}

func TestLoadConfigNamesEveryProblem(t *testing.T) {
	env := map[string]string{"ALERT_TOPIC_ARN": "alerts", "EVENT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:events.fifo", "FAILURE_THRESHOLD": "0", "CHECK_TIMEOUT": "ten",
		"TARGETS_PATH": "proget", "LOG_LEVEL": "loud", "METRICS": "everything", "REMINDER_INTERVAL": "1w"}
	_, err := loadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"STATE_TABLE is required", "ALERT_TOPIC_ARN: \"alerts\" is not a topic ARN", "EVENT_TOPIC_ARN: \"arn:aws:sns:eu-west-1:123456789012:events.fifo\" is a FIFO topic",
		"FAILURE_THRESHOLD: \"0\" is not a whole number from 1 to 100", "CHECK_TIMEOUT: \"ten\" is not a duration",
		"TARGETS_PATH", "LOG_LEVEL", "METRICS: \"everything\" is not one of fleet, instance, full", "REMINDER_INTERVAL"} {
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
