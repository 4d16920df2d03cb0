package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// The table's schema. template.yaml declares the same names.
const (
	KeyAttribute = "target"     // partition key: the instance's SSM folder
	TTLAttribute = "expires_at" // epoch seconds; DynamoDB deletes the item after it
	batchSize    = 100          // the most keys BatchGetItem takes
)

// api is the part of the DynamoDB API this adapter uses.
type api interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// DynamoDB stores states in one table, one item per instance.
type DynamoDB struct {
	client api
	table  string
}

// NewDynamoDB returns a store over the table.
func NewDynamoDB(client api, table string) *DynamoDB { return &DynamoDB{client: client, table: table} }

// Load reads the states of the given keys, in batches of 100 read concurrently,
// with strongly consistent reads. Keys with no item are absent from the result.
func (d *DynamoDB) Load(ctx context.Context, keys []string) (map[string]monitor.State, error) {
	states, _, err := d.load(ctx, keys)
	return states, err
}

func (d *DynamoDB) load(ctx context.Context, keys []string) (map[string]monitor.State, string, error) {
	out := make(map[string]monitor.State, len(keys))
	var marker string
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, (len(keys)+batchSize-1)/batchSize)
	for i := 0; i < len(keys); i += batchSize {
		batch := keys[i:min(i+batchSize, len(keys))]
		wg.Go(func() {
			items, err := d.loadBatch(ctx, batch)
			if err != nil {
				errs[i/batchSize] = err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, raw := range items {
				if key, _ := raw[KeyAttribute].(*types.AttributeValueMemberS); key != nil && key.Value == MarkerKey {
					if m, ok := raw["change"].(*types.AttributeValueMemberS); ok {
						marker = m.Value
					}
					continue
				}
				s, err := decode(raw)
				if err != nil {
					errs[i/batchSize] = err
					return
				}
				out[s.Key] = s
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, "", fmt.Errorf("read state from table %s: %w", d.table, err)
	}
	return out, marker, nil
}

func (d *DynamoDB) loadBatch(ctx context.Context, keys []string) ([]map[string]types.AttributeValue, error) {
	req := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		req[i] = map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: k}}
	}
	pending := map[string]types.KeysAndAttributes{d.table: {Keys: req, ConsistentRead: aws.Bool(true)}}
	var items []map[string]types.AttributeValue
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			// Unprocessed keys mean the table is throttling: back off before asking again.
			if attempt > 8 {
				return nil, fmt.Errorf("%d keys still unprocessed after %d attempts", len(pending[d.table].Keys), attempt)
			}
			select {
			case <-time.After(time.Duration(attempt*attempt) * 25 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		resp, err := d.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
		if err != nil {
			return nil, err
		}
		items = append(items, resp.Responses[d.table]...)
		pending = resp.UnprocessedKeys
	}
	return items, nil
}

// Save writes the state if the stored version is still the one it was read at
// (zero: no item yet), and returns the new version. It returns
// monitor.ErrConflict when another run wrote first.
func (d *DynamoDB) Save(ctx context.Context, s monitor.State) (int64, error) {
	it := fromState(s)
	it.Version = s.Version + 1
	av, err := encode(it)
	if err != nil {
		return 0, fmt.Errorf("encode the state of %s: %w", s.Key, err)
	}
	// Every name in ExpressionAttributeNames must be used by an expression:
	// DynamoDB refuses the request otherwise.
	in := &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: av}
	if s.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#k)")
		in.ExpressionAttributeNames = map[string]string{"#k": KeyAttribute}
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": "version"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.Version, 10)}}
	}
	if _, err := d.client.PutItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return 0, monitor.ErrConflict
		}
		return 0, fmt.Errorf("write the state of %s to table %s: %w", s.Key, d.table, err)
	}
	return it.Version, nil
}

// decode reads an item of either layout.
func decode(raw map[string]types.AttributeValue) (monitor.State, error) {
	if _, compact := raw["format"]; compact {
		var it item
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			return monitor.State{}, fmt.Errorf("decode the item of %v: %w", raw[KeyAttribute], err)
		}
		return it.state(), nil
	}
	var it legacyItem
	if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
		return monitor.State{}, fmt.Errorf("decode the item of %v: %w", raw[KeyAttribute], err)
	}
	return it.state(), nil
}
