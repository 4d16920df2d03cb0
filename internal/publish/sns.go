// Package publish is the SNS adapter: it publishes a rendered message to the
// topic of its audience and says what SNS did with a message it refused. It
// knows no policy: what to send, and when, is decided before.
package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/proget-monitor/proget-monitor/internal/render"
)

// api is the part of the SNS API this adapter uses.
type api interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS publishes to one topic per audience.
type SNS struct {
	client api
	topics map[string]string // audience -> topic ARN
}

// NewSNS returns a publisher to the topics, by audience.
func NewSNS(client api, topics map[string]string) *SNS { return &SNS{client: client, topics: topics} }

// Publish sends the message with the String message structure, so that its
// attributes are delivered and subscription filter policies can match them
// (SNS sends attributes only for String-structured messages).
func (s *SNS) Publish(ctx context.Context, audience string, m render.Message) error {
	topic, ok := s.topics[audience]
	if !ok {
		return fmt.Errorf("no topic for audience %q", audience)
	}
	attrs := make(map[string]types.MessageAttributeValue)
	for _, a := range m.Attributes() {
		attrs[a.Name] = types.MessageAttributeValue{DataType: aws.String(a.Type), StringValue: aws.String(a.Value)}
	}
	// The SDK retries a failed attempt: SNS may have taken the message in
	// an attempt before the last, so each attempt's outcome is noted.
	var maybeTaken bool
	_, err := s.client.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(topic),
		Subject:           aws.String(m.Subject),
		Message:           aws.String(m.Body),
		MessageAttributes: attrs,
	}, func(o *sns.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("noteAttempt",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if err != nil && !surelyRefused(err) {
						maybeTaken = true
					}
					return out, md, err
				}), middleware.Before)
		})
	})
	if err != nil {
		return &Error{Err: fmt.Errorf("publish alert %s (%d bytes) to %s: %w", m.ID, m.Size(), topic, err), maybeTaken: maybeTaken}
	}
	return nil
}

// Error is a failed Publish, which tells what SNS did with the message.
type Error struct {
	Err        error
	maybeTaken bool // an attempt, retried since, may have reached SNS
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Invalid reports that SNS refused the message itself (too long, bad
// content): sending it again unchanged cannot work.
func (e *Error) Invalid() bool {
	var api smithy.APIError
	if !errors.As(e.Err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidParameter", "InvalidParameterValue", "ParameterValueInvalid":
	default:
		return false
	}
	// The same codes name a wrong topic or a topic of another kind: that is
	// the deployment's fault, every message would be refused, and none may
	// be given up for it. Only a refusal that names the message or its
	// subject or attributes is the message's.
	msg := strings.ToLower(api.ErrorMessage())
	for _, notTheMessage := range []string{"topic", "targetarn", "messagegroupid", "messagededuplicationid", "phonenumber"} {
		msg = strings.ReplaceAll(msg, notTheMessage, "")
	}
	return strings.Contains(msg, "message") || strings.Contains(msg, "subject")
}

// NotAccepted reports that SNS surely did not take the message: it answered
// with a client error, or no connection was made. After a 5xx or a timeout
// the message may have been published.
func (e *Error) NotAccepted() bool { return !e.maybeTaken && surelyRefused(e.Err) }

func surelyRefused(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		code := re.HTTPStatusCode()
		return code >= 400 && code < http.StatusInternalServerError
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
