package main

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

// config is the function's settings, read from the environment.
type config struct {
	TargetsPath       string
	StateTable        string
	AlertTopicARN     string
	EventTopicARN     string
	MetricsNamespace  string
	Metrics           metrics.Level
	FailureThreshold  int
	RecoveryThreshold int
	CheckTimeout      time.Duration
	MaxConcurrency    int
	StateTTL          time.Duration
	LogLevel          slog.Level
	ReminderInterval  time.Duration
	VersionNotices    bool
	StormPercent      int
	StormMinInstances int
	TargetsCacheTTL   time.Duration
	Subnets           []string
	CertWarningDays   int
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
	{"ALERT_TOPIC_ARN", "", true, topicARN(func(c *config, v string) { c.AlertTopicARN = v })},
	{"EVENT_TOPIC_ARN", "", false, topicARN(func(c *config, v string) { c.EventTopicARN = v })},
	{"METRICS_NAMESPACE", "ProGet", false, func(c *config, v string) error { c.MetricsNamespace = v; return nil }},
	{"METRICS", string(metrics.LevelInstance), false, func(c *config, v string) (err error) {
		c.Metrics, err = metrics.ParseLevel(v)
		return err
	}},
	{"FAILURE_THRESHOLD", "1", false, intIn(1, 100, func(c *config, n int) { c.FailureThreshold = n })},
	{"RECOVERY_THRESHOLD", "1", false, intIn(1, 100, func(c *config, n int) { c.RecoveryThreshold = n })},
	{"CHECK_TIMEOUT", "10s", false, durationIn(100*time.Millisecond, 5*time.Minute, func(c *config, d time.Duration) { c.CheckTimeout = d })},
	{"MAX_CONCURRENCY", "auto", false, func(c *config, v string) error {
		if v == "auto" {
			return nil // as many as the open-files limit allows
		}
		return intIn(1, 1000, func(c *config, n int) { c.MaxConcurrency = n })(c, v)
	}},
	{"STATE_TTL", "30d", false, durationIn(time.Hour, 365*24*time.Hour, func(c *config, d time.Duration) { c.StateTTL = d })},
	{"REMINDER_INTERVAL", "off", false, func(c *config, v string) error {
		if v == "off" || v == "0" {
			return nil
		}
		return durationIn(time.Second, 30*24*time.Hour, func(c *config, d time.Duration) { c.ReminderInterval = d })(c, v)
	}},
	{"VERSION_NOTICES", "true", false, boolean(func(c *config, b bool) { c.VersionNotices = b })},
	{"TARGETS_CACHE_TTL", "1h", false, durationIn(0, 24*time.Hour, func(c *config, d time.Duration) { c.TargetsCacheTTL = d })},
	{"STORM_PERCENT", "50", false, intIn(0, 100, func(c *config, n int) { c.StormPercent = n })},
	{"STORM_MIN_INSTANCES", "3", false, intIn(1, 100000, func(c *config, n int) { c.StormMinInstances = n })},
	{"CERT_WARNING_DAYS", "14", false, intIn(0, 365, func(c *config, n int) { c.CertWarningDays = n })},
	{"SUBNET_IDS", "", false, func(c *config, v string) error {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Subnets = append(c.Subnets, s)
			}
		}
		return nil
	}},
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
		d, err := parseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("%q is not a duration from %s to %s (like 10s, 2m, 4h or 1d)", v, lo, hi)
		}
		set(c, d)
		return nil
	}
}

// parseDuration reads a Go duration, with days too: "1d", "1d12h".
func parseDuration(v string) (time.Duration, error) {
	days, rest, ok := strings.Cut(v, "d")
	if !ok {
		return time.ParseDuration(v)
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: bad number of days", v)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return d + r, nil
}

// topicARNPattern is the form of an SNS topic ARN in any partition.
var topicARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)

func topicARN(set func(*config, string)) func(*config, string) error {
	return func(c *config, v string) error {
		if !topicARNPattern.MatchString(v) {
			return fmt.Errorf("%q is not a topic ARN (arn:aws:sns:<region>:<12-digit account>:<topic>)", v)
		}
		if strings.HasSuffix(v, ".fifo") {
			// A FIFO topic refuses a publish without a message group id, and
			// delivers to queues only: no e-mail, no pager.
			return fmt.Errorf("%q is a FIFO topic: alerts go to a standard topic", v)
		}
		set(c, v)
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
			if v = s.def; v == "" {
				continue // optional, and not set
			}
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
