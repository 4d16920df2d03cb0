package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// MarkerKey is the item that records when the instances' parameters last
// changed in SSM. Instance keys are SSM paths and start with "/", so it
// never collides with one.
const MarkerKey = "#targets-changed"

// MarkTargetsChanged records a change of the targets' parameters, as told by
// SSM's change event id: any value different from the one a run last saw
// makes it read SSM again.
func (d *DynamoDB) MarkTargetsChanged(ctx context.Context, change string, at time.Time) error {
	_, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: map[string]types.AttributeValue{
		KeyAttribute: &types.AttributeValueMemberS{Value: MarkerKey},
		"change":     &types.AttributeValueMemberS{Value: change},
		"changed_at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
	}})
	if err != nil {
		return fmt.Errorf("record the targets' change in table %s: %w", d.table, err)
	}
	return nil
}

// Snapshot reads the states of keys and, in the same requests, the targets
// marker ("" when no change was ever recorded): a run learns whether its
// cached targets are stale without a round trip of its own.
func (d *DynamoDB) Snapshot(ctx context.Context, keys []string) (map[string]monitor.State, string, error) {
	return d.load(ctx, append(slices.Clone(keys), MarkerKey))
}

// Marker reads the targets marker alone, before a run reads SSM.
func (d *DynamoDB) Marker(ctx context.Context) (string, error) {
	_, m, err := d.load(ctx, []string{MarkerKey})
	return m, err
}
