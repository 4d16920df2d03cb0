package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

// config is the function's settings, read from the environment.
type config struct {
	TargetsPath       string
	StateTable        string
	AlertTopicARN     string
	MetricsNamespace  string
	FailureThreshold  int
	RecoveryThreshold int
	CheckTimeout      time.Duration
	MaxConcurrency    int
	StateTTL          time.Duration
	ConnectorMetrics  bool
	LogLevel          slog.Level
	ReminderInterval  time.Duration
	VersionNotices    bool
	StormPercent      int
	StormMinInstances int
	TargetsCacheTTL   time.Duration
}

// setting is one environment variable; the README and template.yaml list the same.
type setting struct {
	name     string
	def      string // empty and not required: optional
	required bool
	parse    func(c *config, v string) error
}

// settings is every environment variable the function reads.
var settings = []setting{
	{"TARGETS_PATH", "/proget-monitor/targets/", false, func(c *config, v string) (err error) {
		c.TargetsPath, err = targets.NormalizePath(v)
		return err
	}},
	{"STATE_TABLE", "", true, func(c *config, v string) error { c.StateTable = v; return nil }},
	{"ALERT_TOPIC_ARN", "", true, func(c *config, v string) error {
		if !strings.HasPrefix(v, "arn:") {
			return fmt.Errorf("%q is not an ARN (arn:aws:sns:<region>:<account>:<topic>)", v)
		}
		c.AlertTopicARN = v
		return nil
	}},
	{"METRICS_NAMESPACE", "ProGet", false, func(c *config, v string) error { c.MetricsNamespace = v; return nil }},
	{"FAILURE_THRESHOLD", "1", false, intIn(1, 100, func(c *config, n int) { c.FailureThreshold = n })},
	{"RECOVERY_THRESHOLD", "1", false, intIn(1, 100, func(c *config, n int) { c.RecoveryThreshold = n })},
	{"CHECK_TIMEOUT", "10s", false, durationIn(100*time.Millisecond, 5*time.Minute, func(c *config, d time.Duration) { c.CheckTimeout = d })},
	{"MAX_CONCURRENCY", strconv.Itoa(monitor.DefaultMaxConcurrency), false, intIn(1, 1000, func(c *config, n int) { c.MaxConcurrency = n })},
	{"STATE_TTL", "720h", false, durationIn(time.Hour, 365*24*time.Hour, func(c *config, d time.Duration) { c.StateTTL = d })},
	{"CONNECTOR_METRICS", "true", false, boolean(func(c *config, b bool) { c.ConnectorMetrics = b })},
	{"REMINDER_INTERVAL", "off", false, func(c *config, v string) error {
		if v == "off" || v == "0" {
			return nil
		}
		return durationIn(time.Second, 30*24*time.Hour, func(c *config, d time.Duration) { c.ReminderInterval = d })(c, v)
	}},
	{"VERSION_NOTICES", "true", false, boolean(func(c *config, b bool) { c.VersionNotices = b })},
	{"TARGETS_CACHE_TTL", "0s", false, durationIn(0, 24*time.Hour, func(c *config, d time.Duration) { c.TargetsCacheTTL = d })},
	{"STORM_PERCENT", "50", false, intIn(0, 100, func(c *config, n int) { c.StormPercent = n })},
	{"STORM_MIN_INSTANCES", "3", false, intIn(1, 100000, func(c *config, n int) { c.StormMinInstances = n })},
	{"LOG_LEVEL", "info", false, func(c *config, v string) error {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}
		return nil
	}},
}

func boolean(set func(*config, bool)) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		set(c, b)
		return nil
	}
}

func intIn(lo, hi int, set func(*config, int)) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
		}
		set(c, n)
		return nil
	}
}

func durationIn(lo, hi time.Duration, set func(*config, time.Duration)) func(*config, string) error {
	return func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("%q is not a duration from %s to %s (like 10s or 2m)", v, lo, hi)
		}
		set(c, d)
		return nil
	}
}

// loadConfig reads every setting and reports every problem at once, each naming
// its variable.
func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var errs []error
	for _, s := range settings {
		v := strings.TrimSpace(getenv(s.name))
		if v == "" {
			if s.required {
				errs = append(errs, fmt.Errorf("%s is required and not set (template.yaml sets it)", s.name))
				continue
			}
			v = s.def
		}
		if err := s.parse(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}
