package localaws

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// AlertQueue is an SNS topic with an SQS queue subscribed to it, so that what
// the topic delivers can be read back.
type AlertQueue struct {
	TopicARN string
	QueueURL string
	sqs      *sqs.Client
}

// NewAlertQueue creates a topic and a queue named name, and subscribes the queue.
func NewAlertQueue(ctx context.Context, cfg aws.Config, name string) (*AlertQueue, error) {
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create topic %s: %w", name, err)
	}
	return SubscribeQueue(ctx, cfg, aws.ToString(topic.TopicArn), name, "")
}

// SubscribeQueue creates a queue named name and subscribes it to a topic, with
// a subscription filter policy on message attributes when filterPolicy is not
// empty.
func SubscribeQueue(ctx context.Context, cfg aws.Config, topicARN, name, filterPolicy string) (*AlertQueue, error) {
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "0"}})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("read the ARN of queue %s: %w", name, err)
	}
	in := &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}
	if filterPolicy != "" {
		in.Attributes = map[string]string{"FilterPolicy": filterPolicy}
	}
	if _, err := snsc.Subscribe(ctx, in); err != nil {
		return nil, fmt.Errorf("subscribe queue %s to %s: %w", name, topicARN, err)
	}
	return &AlertQueue{TopicARN: topicARN, QueueURL: aws.ToString(q.QueueUrl), sqs: sqsc}, nil
}

// Delivery is one SNS notification as an SQS subscriber receives it.
type Delivery struct {
	Subject    string
	Message    string // the text for the "sqs" protocol
	Attributes map[string]string
}

// Receive drains the queue and returns what it held, oldest first. A
// message whose receive's answer was lost on the way is visible again at
// once (the queue's visibility timeout is 0), and read once even if it then
// comes twice.
func (q *AlertQueue) Receive(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	seen := map[string]bool{}
	for {
		resp, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", q.QueueURL, err)
		}
		if len(resp.Messages) == 0 {
			return out, nil
		}
		for _, m := range resp.Messages {
			if _, err := q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete from %s: %w", q.QueueURL, err)
			}
			if seen[aws.ToString(m.MessageId)] {
				continue
			}
			seen[aws.ToString(m.MessageId)] = true
			var env struct {
				Subject           string
				Message           string
				MessageAttributes map[string]struct{ Type, Value string }
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				return nil, fmt.Errorf("an SNS notification that is not JSON: %w", err)
			}
			d := Delivery{Subject: env.Subject, Message: env.Message, Attributes: map[string]string{}}
			for k, v := range env.MessageAttributes {
				d.Attributes[k] = v.Value
			}
			out = append(out, d)
		}
	}
}
