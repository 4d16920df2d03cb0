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
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/proget-monitor/proget-monitor/internal/deliver"
	"github.com/proget-monitor/proget-monitor/internal/group"
	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/publish"
	"github.com/proget-monitor/proget-monitor/internal/render"
	"github.com/proget-monitor/proget-monitor/internal/run"
	"github.com/proget-monitor/proget-monitor/internal/store"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

func main() {
	tuneGC(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	level := new(slog.LevelVar)
	log := newLogger(os.Stdout, level)
	// The log package's lines (aws-lambda-go reports a failed invocation with
	// it) become JSON lines too, with the request id.
	slog.SetDefault(log)
	cfg, err := loadConfig(os.Getenv)
	var awsCfg aws.Config
	if err == nil {
		level.Set(cfg.LogLevel)
		if awsCfg, err = awsconfig.LoadDefaultConfig(context.Background()); err != nil {
			err = fmt.Errorf("load the AWS configuration (region, credentials) from the environment: %w", err)
		}
	}
	if err != nil {
		// Every invocation fails with the reason, so the function's Errors
		// metric and its alarm see a broken configuration.
		lambda.Start(func(ctx context.Context, _ json.RawMessage) (any, error) {
			requestLogger(ctx, log).Error("the function cannot run: fix its environment (template.yaml sets it)", "error", err)
			return nil, invokeError(configurationError, err)
		})
		return
	}
	lambda.Start(newApp(cfg, awsCfg, log, os.Getenv("AWS_LAMBDA_RUNTIME_API")).handle)
}

// app is the wired function; tests build it against a local AWS stack.
type app struct {
	runner      *run.Runner
	changes     changeRecorder
	targetsPath string
	log         *slog.Logger
}

// changeRecorder records that the targets' parameters changed in SSM.
type changeRecorder interface {
	MarkTargetsChanged(ctx context.Context, change string, at time.Time) error
}

// AWS calls are retried with the SDK's standard retryer: exponential backoff
// with jitter, throttling and 5xx retried, and a client-wide retry quota so
// that an AWS outage does not turn into a retry storm.
const awsMaxAttempts = 5

// deliveryConcurrency bounds the instances whose state is written, and
// alerts published, at once: DynamoDB and SNS calls, each on its connection.
const deliveryConcurrency = 64

// Audiences: people read the alert topic (e-mail, SMS), programs the event
// topic (SQS, Lambda, HTTPS).
const (
	audiencePeople   = "people"
	audiencePrograms = "programs"
)

func newApp(cfg config, awsCfg aws.Config, log *slog.Logger, runtimeAPI string) *app {
	awsCfg.Retryer = func() aws.Retryer {
		// SNS answers "Throttled", which the SDK does not count as throttling.
		return retry.AddWithErrorCodes(retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = awsMaxAttempts
			o.MaxBackoff = 2 * time.Second
		}), "Throttled")
	}
	source := targets.NewSSM(ssm.NewFromConfig(awsCfg))
	states := store.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), cfg.StateTable)
	audiences := []deliver.Audience{{Name: audiencePeople, Format: render.Text}}
	topics := map[string]string{audiencePeople: cfg.AlertTopicARN}
	if cfg.EventTopicARN != "" {
		audiences = append(audiences, deliver.Audience{Name: audiencePrograms, Format: render.JSON})
		topics[audiencePrograms] = cfg.EventTopicARN
	}
	return &app{
		runner: &run.Runner{
			Targets: source,
			Checker: proget.New(cfg.CheckTimeout, proget.WithRuntimeAPI(runtimeAPI), proget.WithCertificateWarning(cfg.CertWarningDays)),
			States:  states,
			Outbox: &deliver.Outbox{Store: states, Publisher: publish.NewSNS(sns.NewFromConfig(awsCfg), topics),
				Audiences: audiences, StateTTL: cfg.StateTTL, Concurrency: deliveryConcurrency},
			Metrics: metrics.NewCloudWatch(cloudwatch.NewFromConfig(awsCfg), cfg.MetricsNamespace, cfg.Metrics),
			Policy: monitor.Policy{FailureThreshold: cfg.FailureThreshold, RecoveryThreshold: cfg.RecoveryThreshold,
				ReminderInterval: cfg.ReminderInterval, VersionNotices: cfg.VersionNotices},
			Storm:          group.Policy{Percent: cfg.StormPercent, MinInstances: cfg.StormMinInstances},
			MaxConcurrency: cfg.MaxConcurrency,
			OpenFiles:      openFiles,
			TargetsTTL:     cfg.TargetsCacheTTL,
			Subnets:        cfg.Subnets,
		},
		changes:     states,
		targetsPath: cfg.TargetsPath,
		log:         log,
	}
}
