package alert

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// Message attribute names, for subscription filter policies.
const (
	AttrInstance = "instance"
	AttrSeverity = "severity"
	AttrAlertID  = "alert-id"
)

// publishAPI is the part of the SNS API this adapter uses.
type publishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS publishes alerts to one topic.
type SNS struct {
	client   publishAPI
	topicARN string
}

// NewSNS returns a publisher to the topic.
func NewSNS(client publishAPI, topicARN string) *SNS { return &SNS{client: client, topicARN: topicARN} }

// Publish sends one alert.
func (s *SNS) Publish(ctx context.Context, a monitor.Alert) error {
	msg, err := snsMessage(a)
	if err != nil {
		return fmt.Errorf("render alert %s for %s: %w", a.ID, a.Instance, err)
	}
	if err := s.publish(ctx, Subject(a), msg, a.Instance, a.Severity, a.ID); err != nil {
		return fmt.Errorf("publish alert %s for %s to %s: %w", a.ID, a.Instance, s.topicARN, err)
	}
	return nil
}

// PublishFleet sends one message for many instances; its instance attribute is "*".
func (s *SNS) PublishFleet(ctx context.Context, fa monitor.FleetAlert) error {
	msg, err := fleetSNSMessage(fa)
	if err != nil {
		return fmt.Errorf("render fleet alert %s: %w", fa.ID, err)
	}
	if err := s.publish(ctx, FleetSubject(fa), msg, FleetInstance, fa.Severity, fa.ID); err != nil {
		return fmt.Errorf("publish fleet alert %s to %s: %w", fa.ID, s.topicARN, err)
	}
	return nil
}

func (s *SNS) publish(ctx context.Context, subject, msg, instance string, severity monitor.Severity, id string) error {
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err := s.client.Publish(ctx, &sns.PublishInput{
		TopicArn:         aws.String(s.topicARN),
		Subject:          aws.String(subject),
		Message:          aws.String(msg),
		MessageStructure: aws.String("json"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrInstance: str(instance),
			AttrSeverity: str(string(severity)),
			AttrAlertID:  str(id),
		},
	})
	return err
}
