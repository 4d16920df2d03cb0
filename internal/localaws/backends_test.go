package localaws_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
)

func TestMain(m *testing.M) { os.Exit(localaws.Main(m)) }

// TestSmoke runs the calls the monitor makes on each backend.
func TestSmoke(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		stack, cfg := localaws.ForTestOn(t, b)
		if stack.Backend() != b {
			t.Fatalf("Backend() = %q, want %q", stack.Backend(), b)
		}
		ctx := context.Background()

		t.Run("ssm", func(t *testing.T) {
			c := ssm.NewFromConfig(cfg)
			root := "/" + localaws.Name(t, "smoke") + "/"
			if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(root + "a/api-key"),
				Value: aws.String("s3cret"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
				t.Fatal(err)
			}
			out, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String(root),
				Recursive: aws.Bool(true), WithDecryption: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) != "s3cret" {
				t.Errorf("parameters = %+v, want the one decrypted value", out.Parameters)
			}
		})

		t.Run("dynamodb", func(t *testing.T) {
			c := dynamodb.NewFromConfig(cfg)
			table := createTable(t, c, "smoke")
			if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
				"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}, "n": &ddbtypes.AttributeValueMemberN{Value: "7"}}}); err != nil {
				t.Fatal(err)
			}
			key := func(k string) map[string]ddbtypes.AttributeValue {
				return map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: k}}
			}
			out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
				table: {Keys: []map[string]ddbtypes.AttributeValue{key("a"), key("absent")}, ConsistentRead: aws.Bool(true)}}})
			if err != nil {
				t.Fatal(err)
			}
			items := out.Responses[table]
			if len(items) != 1 {
				t.Fatalf("got %d items, want 1", len(items))
			}
			if n, ok := items[0]["n"].(*ddbtypes.AttributeValueMemberN); !ok || n.Value != "7" {
				t.Errorf("item = %#v", items[0])
			}
		})

		t.Run("sns to sqs", func(t *testing.T) {
			q, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "smoke"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(q.TopicARN),
				Subject: aws.String("ProGet prod-eu: DOWN"), Message: aws.String(`{"text":"down"}`),
				MessageAttributes: map[string]snstypes.MessageAttributeValue{
					"severity": {DataType: aws.String("String"), StringValue: aws.String("critical")}}}); err != nil {
				t.Fatal(err)
			}
			got, err := q.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("received %d notifications, want 1: %+v", len(got), got)
			}
			d := got[0]
			if d.Subject != "ProGet prod-eu: DOWN" || d.Message != `{"text":"down"}` || d.Attributes["severity"] != "critical" {
				t.Errorf("delivery = %+v", d)
			}
		})

		t.Run("cloudwatch on kumo", func(t *testing.T) {
			c := cloudwatch.NewFromConfig(cfg)
			ns := localaws.Name(t, "Smoke")
			// Moto cannot read CBOR: that these calls succeed on a Moto stack
			// shows the proxy sent them to kumo.
			if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns),
				MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("Up"), Value: aws.Float64(1), Unit: cwtypes.StandardUnitCount,
					Dimensions: []cwtypes.Dimension{{Name: aws.String("Instance"), Value: aws.String("prod-eu")}}}}}); err != nil {
				t.Fatal(err)
			}
			out, err := c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(ns)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Metrics) != 1 || aws.ToString(out.Metrics[0].MetricName) != "Up" {
				t.Errorf("metrics = %+v, want Up", out.Metrics)
			}
			if n := stack.Calls()["monitoring.PutMetricData"]; n != 1 {
				t.Errorf("monitoring.PutMetricData counted %d times, want 1", n)
			}
		})
	})
}

// TestInjectedFaults checks that an injected error reaches the SDK as the API
// error it names, in each protocol: query (SNS), JSON (DynamoDB, SSM, SQS) and
// Smithy RPC v2 CBOR (CloudWatch).
func TestInjectedFaults(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		stack, cfg := localaws.ForTestOn(t, b)
		cfg.RetryMaxAttempts = 1 // one call, one answer: no backoff on 5xx
		ctx := context.Background()
		q, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "faults"))
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]func() error{
			"sns.Publish": func() error {
				_, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(q.TopicARN), Message: aws.String("x")})
				return err
			},
			"dynamodb.BatchGetItem": func() error {
				_, err := dynamodb.NewFromConfig(cfg).BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
					"t": {Keys: []map[string]ddbtypes.AttributeValue{{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}}}}}})
				return err
			},
			"ssm.GetParametersByPath": func() error {
				_, err := ssm.NewFromConfig(cfg).GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/x/")})
				return err
			},
			"sqs.ReceiveMessage": func() error {
				_, err := sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.QueueURL)})
				return err
			},
			"monitoring.PutMetricData": func() error {
				_, err := cloudwatch.NewFromConfig(cfg).PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("x"),
					MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("m"), Value: aws.Float64(1)}}})
				return err
			},
		}
		for _, c := range []struct {
			op     string
			status int
			code   string
		}{
			{"sns.Publish", 400, "AuthorizationError"},
			{"sns.Publish", 500, "InternalError"},
			{"dynamodb.BatchGetItem", 400, "AccessDeniedException"},
			{"dynamodb.BatchGetItem", 500, "InternalServerError"},
			{"ssm.GetParametersByPath", 400, "AccessDeniedException"},
			{"sqs.ReceiveMessage", 400, "AccessDenied"},
			{"monitoring.PutMetricData", 400, "AccessDenied"},
			{"monitoring.PutMetricData", 500, "InternalServiceError"},
		} {
			stack.SetFault(localaws.FailOn(c.op, c.status, c.code))
			err := calls[c.op]()
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != c.code {
				t.Errorf("%s failed with %d %s: the SDK saw %v, want API error %s", c.op, c.status, c.code, err, c.code)
			}
			var resp *awshttp.ResponseError
			if !errors.As(err, &resp) || resp.HTTPStatusCode() != c.status {
				t.Errorf("%s failed with %d %s: the SDK saw %v, want HTTP status %d", c.op, c.status, c.code, err, c.status)
			}
		}
	})
}

// TestMotoIsStrict shows why moto is there: it rejects, as AWS does, a PutItem
// whose ExpressionAttributeNames holds a name no expression uses (a request
// kumo took, which once silenced every alert after a first run on AWS).
func TestMotoIsStrict(t *testing.T) {
	_, cfg := localaws.ForTestOn(t, localaws.Moto)
	ctx := context.Background()
	c := dynamodb.NewFromConfig(cfg)
	table := createTable(t, c, "strict")
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
		Item:                     map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}},
		ConditionExpression:      aws.String("attribute_not_exists(#v)"),
		ExpressionAttributeNames: map[string]string{"#k": "pk", "#v": "version"}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" || !strings.Contains(api.ErrorMessage(), "unused in expressions") {
		t.Fatalf("PutItem with an unused #k: %v, want ValidationException ... unused in expressions", err)
	}
	t.Logf("moto: %v", err)
}

// TestMotoIsShared checks that Moto stacks share one moto_server: what one
// creates, the other sees.
func TestMotoIsShared(t *testing.T) {
	start := time.Now()
	_, a := localaws.ForTestOn(t, localaws.Moto)
	_, b := localaws.ForTestOn(t, localaws.Moto)
	t.Logf("two Moto stacks ready in %s", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	name := localaws.Name(t, "shared")
	if _, err := sqs.NewFromConfig(a).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqs.NewFromConfig(b).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)}); err != nil {
		t.Errorf("a queue created through one Moto stack is not seen through another: %v", err)
	}
}

// createTable makes a table keyed by a string "pk" and returns its name.
func createTable(t *testing.T, c *dynamodb.Client, name string) string {
	t.Helper()
	table := localaws.Name(t, name)
	if _, err := c.CreateTable(context.Background(), &dynamodb.CreateTableInput{TableName: aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	return table
}
