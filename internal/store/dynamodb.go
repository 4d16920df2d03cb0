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

// item is the stored form of a state. Field names are the attribute names.
type item struct {
	Target         string                            `json:"target"`
	Instance       string                            `json:"instance"`
	Version        int64                             `json:"version"`
	Components     map[string]monitor.ComponentState `json:"components"`
	Release        string                            `json:"release,omitempty"`
	ReleaseTold    string                            `json:"release_told,omitempty"`
	Extensions     []string                          `json:"extensions,omitempty"`
	ExtensionsTold []string                          `json:"extensions_told,omitempty"`
	Outbox         []monitor.Alert                   `json:"outbox,omitempty"`
	OutboxLease    int64                             `json:"outbox_lease_until,omitempty"` // epoch ms
	UpdatedAt      time.Time                         `json:"updated_at"`
	ExpiresAt      int64                             `json:"expires_at"`
}

func useJSONNames(o *attributevalue.EncoderOptions)       { o.TagKey = "json" }
func useJSONNamesDecode(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// Load reads the states of the given keys, in batches of 100 read concurrently,
// with strongly consistent reads. Keys with no item are absent from the result.
func (d *DynamoDB) Load(ctx context.Context, keys []string) (map[string]monitor.State, error) {
	out := make(map[string]monitor.State, len(keys))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, (len(keys)+batchSize-1)/batchSize)
	for i := 0; i < len(keys); i += batchSize {
		batch := keys[i:min(i+batchSize, len(keys))]
		wg.Go(func() {
			states, err := d.loadBatch(ctx, batch)
			if err != nil {
				errs[i/batchSize] = err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range states {
				out[s.Key] = s
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("read state from table %s: %w", d.table, err)
	}
	return out, nil
}

func (d *DynamoDB) loadBatch(ctx context.Context, keys []string) ([]monitor.State, error) {
	req := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		req[i] = map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: k}}
	}
	pending := map[string]types.KeysAndAttributes{d.table: {Keys: req, ConsistentRead: aws.Bool(true)}}
	var states []monitor.State
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
		for _, raw := range resp.Responses[d.table] {
			var it item
			if err := attributevalue.UnmarshalMapWithOptions(raw, &it, useJSONNamesDecode); err != nil {
				return nil, fmt.Errorf("decode the item of %v: %w", raw[KeyAttribute], err)
			}
			states = append(states, it.state())
		}
		pending = resp.UnprocessedKeys
	}
	return states, nil
}

// Save writes the state if the stored version is still the one it was read at
// (zero: no item yet), and returns the new version. It returns
// monitor.ErrConflict when another run wrote first.
func (d *DynamoDB) Save(ctx context.Context, s monitor.State) (int64, error) {
	it := fromState(s)
	it.Version = s.Version + 1
	av, err := attributevalue.MarshalMapWithOptions(it, useJSONNames)
	if err != nil {
		return 0, fmt.Errorf("encode the state of %s: %w", s.Key, err)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: av,
		ExpressionAttributeNames: map[string]string{"#k": KeyAttribute}}
	if s.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#k)")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames["#v"] = "version"
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

func fromState(s monitor.State) item {
	it := item{Target: s.Key, Instance: s.Instance, Version: s.Version, Components: s.Components,
		Release: s.Release, ReleaseTold: s.ReleaseTold, Extensions: s.Extensions, ExtensionsTold: s.ExtensionsTold,
		Outbox: s.Outbox, UpdatedAt: s.UpdatedAt.UTC(), ExpiresAt: s.ExpiresAt.Unix()}
	if !s.OutboxLease.IsZero() {
		it.OutboxLease = s.OutboxLease.UnixMilli()
	}
	return it
}

func (it item) state() monitor.State {
	s := monitor.State{Key: it.Target, Instance: it.Instance, Version: it.Version, Components: it.Components,
		Release: it.Release, ReleaseTold: it.ReleaseTold, Extensions: it.Extensions, ExtensionsTold: it.ExtensionsTold,
		Outbox: it.Outbox, UpdatedAt: it.UpdatedAt, ExpiresAt: time.Unix(it.ExpiresAt, 0)}
	if it.OutboxLease != 0 {
		s.OutboxLease = time.UnixMilli(it.OutboxLease)
	}
	return s
}
