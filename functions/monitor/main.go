// Command monitor is the ProGet monitor's Lambda function: on each scheduled
// event it checks every ProGet instance configured in SSM, stores their state,
// alerts on changes and pushes metrics.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"
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
	var handler func(context.Context, json.RawMessage) (any, error)
	if err != nil {
		// Every invocation fails with the reason, so the function's Errors
		// metric and its alarm see a broken configuration.
		handler = func(ctx context.Context, _ json.RawMessage) (any, error) {
			requestLogger(ctx, log).Error("the function cannot run: fix its environment (template.yaml sets it)", "error", err)
			return nil, invokeError("ConfigurationError", err)
		}
	} else {
		level.Set(cfg.LogLevel)
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
		if err != nil {
			log.Error("cannot load the AWS configuration", "error", err)
			os.Exit(1)
		}
		handler = newApp(cfg, awsCfg, log, os.Getenv("AWS_LAMBDA_RUNTIME_API")).handle
	}
	lambda.Start(handler)
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

// tuneGC trades memory, which a function has reserved anyway, for CPU, which
// it has little of (a 128 MB function gets about 7% of a vCPU): the heap may
// grow to five times what is live before a collection, but never past three
// quarters of the function's memory.
func tuneGC(memoryMB string) {
	mb, err := strconv.Atoi(memoryMB)
	if err != nil || mb <= 0 {
		return
	}
	debug.SetMemoryLimit(int64(mb) << 20 * 3 / 4)
	debug.SetGCPercent(400)
}

// deliveryConcurrency bounds the instances whose state is written, and
// alerts published, at once: DynamoDB and SNS calls, each on its connection.
const deliveryConcurrency = 64

// openFiles is the process's limit on open files: 1024 on Lambda.
func openFiles() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<20 {
		return 1 << 20
	}
	return int(l.Cur)
}

// Audiences: people read the alert topic (e-mail, SMS), programs the event
// topic (SQS, Lambda, HTTPS).
const (
	audiencePeople   = "people"
	audiencePrograms = "programs"
)

func newApp(cfg config, awsCfg aws.Config, log *slog.Logger, runtimeAPI string) *app {
	awsCfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = awsMaxAttempts
			o.MaxBackoff = 2 * time.Second
		})
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
