// Command monitor is the ProGet monitor's Lambda function: on each scheduled
// event it checks every ProGet instance configured in SSM, stores their state,
// alerts on changes and pushes metrics.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"
	_ "time/tzdata" // maintenance windows name IANA zones; the runtime image may have none

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/proget-monitor/proget-monitor/internal/alert"
	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/store"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

func main() {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	cfg, err := loadConfig(os.Getenv)
	var handler func(context.Context, json.RawMessage) (monitor.Summary, error)
	if err != nil {
		// Every invocation fails with the reason, so the function's Errors
		// metric and its alarm see a broken configuration.
		log.Error("the function cannot run", "error", err)
		handler = func(context.Context, json.RawMessage) (monitor.Summary, error) { return monitor.Summary{}, err }
	} else {
		level.Set(cfg.LogLevel)
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
		if err != nil {
			log.Error("cannot load the AWS configuration", "error", err)
			os.Exit(1)
		}
		handler = newApp(cfg, awsCfg, log).handle
	}
	lambda.Start(handler)
}

// app is the wired function; tests build it against a local AWS stack.
type app struct {
	runner      *monitor.Runner
	targetsPath string
	log         *slog.Logger
}

// AWS calls are retried with the SDK's standard retryer: exponential backoff
// with jitter, throttling and 5xx retried, and a client-wide retry quota so
// that an AWS outage does not turn into a retry storm.
const awsMaxAttempts = 5

func newApp(cfg config, awsCfg aws.Config, log *slog.Logger) *app {
	awsCfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = awsMaxAttempts
			o.MaxBackoff = 2 * time.Second
		})
	}
	source := targets.NewSSM(ssm.NewFromConfig(awsCfg))
	source.CacheTTL = cfg.TargetsCacheTTL
	return &app{
		runner: &monitor.Runner{
			Targets:   source,
			Checker:   proget.New(cfg.CheckTimeout, proget.WithMaxConnsPerHost(2)),
			Store:     store.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), cfg.StateTable),
			Publisher: alert.NewSNS(sns.NewFromConfig(awsCfg), cfg.AlertTopicARN),
			Metrics:   metrics.NewCloudWatch(cloudwatch.NewFromConfig(awsCfg), cfg.MetricsNamespace, cfg.ConnectorMetrics),
			Policy: monitor.Policy{FailureThreshold: cfg.FailureThreshold, RecoveryThreshold: cfg.RecoveryThreshold,
				ReminderInterval: cfg.ReminderInterval, VersionNotices: cfg.VersionNotices},
			Storm:          monitor.StormPolicy{Percent: cfg.StormPercent, MinInstances: cfg.StormMinInstances},
			StateTTL:       cfg.StateTTL,
			MaxConcurrency: cfg.MaxConcurrency,
		},
		targetsPath: cfg.TargetsPath,
		log:         log,
	}
}

// handle runs once per event: any EventBridge rule or Scheduler payload. A JSON
// object with a top-level "targetsPath" checks that folder instead of TARGETS_PATH.
func (a *app) handle(ctx context.Context, event json.RawMessage) (monitor.Summary, error) {
	log := a.log
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("requestId", lc.AwsRequestID)
	}
	path, err := targetsPathOf(event, a.targetsPath)
	if err != nil {
		log.Error("invalid event", "error", err)
		return monitor.Summary{}, err
	}
	return a.runner.Run(ctx, log, path)
}

func targetsPathOf(event json.RawMessage, def string) (string, error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(event, &fields) != nil {
		return def, nil // not an object: a plain schedule
	}
	raw, ok := fields["targetsPath"]
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var p string
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("the event's targetsPath must be a string like \"/proget-monitor/targets/\"")
	}
	path, err := targets.NormalizePath(p)
	if err != nil {
		return "", fmt.Errorf("the event's targetsPath: %w", err)
	}
	return path, nil
}
