package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/proget-monitor/proget-monitor/internal/run"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

// handle runs once per event. SSM's "Parameter Store Change" event records
// that the targets changed, and checks nothing. Any other event (an
// EventBridge rule, a Scheduler payload, a manual invoke) is a run: a JSON
// object with a top-level "targetsPath" checks that folder instead of
// TARGETS_PATH.
func (a *app) handle(ctx context.Context, event json.RawMessage) (any, error) {
	log := requestLogger(ctx, a.log)
	if change, ok := parameterChange(event); ok {
		if err := a.changes.MarkTargetsChanged(ctx, change.ID, change.Time); err != nil {
			err = fmt.Errorf("%w; the change is picked up when the targets cache expires (TARGETS_CACHE_TTL)", err)
			log.Error("cannot record a change of the targets", "parameter", change.Detail.Name, "error", err)
			return nil, invokeError(changeNotRecorded, err)
		}
		log.Info("targets changed: the next run reads them again", "parameter", change.Detail.Name, "operation", change.Detail.Operation)
		return targetsChanged{TargetsChanged: true, Parameter: change.Detail.Name}, nil
	}
	path, err := targetsPathOf(event, a.targetsPath)
	if err != nil {
		log.Error("invalid event", "error", err)
		return nil, invokeError(invalidEvent, err)
	}
	sum, err := a.runner.Run(ctx, log, path)
	if err != nil {
		return sum, invokeError(run.KindOf(err), err)
	}
	return sum, nil
}

// Error types of the handler's own failures; a run's are run's kinds.
const (
	configurationError = "ConfigurationError"
	invalidEvent       = "InvalidEvent"
	changeNotRecorded  = "ChangeNotRecorded"
)

// invokeError is an error whose type Lambda reports as errorType: the kind of
// failure, rather than Go's internal type name.
func invokeError(kind string, err error) error {
	return messages.InvokeResponse_Error{Type: kind, Message: err.Error()}
}

// ssmChange is the part of SSM's "Parameter Store Change" event the function reads.
type ssmChange struct {
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	DetailType string    `json:"detail-type"`
	Time       time.Time `json:"time"`
	Detail     struct {
		Name      string `json:"name"`
		Operation string `json:"operation"`
	} `json:"detail"`
}

func parameterChange(event json.RawMessage) (ssmChange, bool) {
	var c ssmChange
	if json.Unmarshal(event, &c) != nil || c.Source != "aws.ssm" || c.DetailType != "Parameter Store Change" || c.ID == "" {
		return ssmChange{}, false
	}
	return c, true
}

// targetsChanged is the answer to a change event.
type targetsChanged struct {
	TargetsChanged bool   `json:"targetsChanged"`
	Parameter      string `json:"parameter"`
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
		return "", errors.New(`the event's targetsPath must be a string like "/proget-monitor/targets/"`)
	}
	path, err := targets.NormalizePath(p)
	if err != nil {
		return "", fmt.Errorf("the event's targetsPath: %w", err)
	}
	return path, nil
}
