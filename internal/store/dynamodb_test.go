package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

func newStore(t *testing.T) (*store.DynamoDB, *dynamodb.Client, *localaws.Stack, string) {
	stack, cfg := localaws.ForTest(t)
	table := localaws.Name(t, "state")
	c := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	if err := store.CreateTable(context.Background(), c, table); err != nil {
		t.Fatal(err)
	}
	return store.NewDynamoDB(c, table), c, stack, table
}

func sample(key string) monitor.State {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	return monitor.State{
		Key: key, Instance: "prod-eu",
		Components: map[string]monitor.ComponentState{
			"database":            {Status: monitor.StatusError, Detail: "SQL down", Since: at, Alerted: monitor.StatusError, Observed: monitor.StatusError, ObservedSince: at, Streak: 2},
			"connector:nuget.org": {Status: monitor.StatusOK, Since: at, Alerted: monitor.StatusOK, Observed: monitor.StatusOK, ObservedSince: at, Streak: 1},
		},
		Outbox:      []monitor.Alert{{ID: "abc", Instance: "prod-eu", Severity: monitor.SeverityCritical, Time: at, Changes: []monitor.Change{{Component: "database", To: monitor.StatusError, Since: at}}}},
		OutboxLease: at.Add(time.Minute),
		UpdatedAt:   at,
		ExpiresAt:   at.Add(30 * 24 * time.Hour),
	}
}

func TestSaveAndLoadRoundTrip(t *testing.T) {
	s, c, _, table := newStore(t)
	ctx := context.Background()
	in := sample("/t/prod-eu")
	v, err := s.Save(ctx, in)
	if err != nil || v != 1 {
		t.Fatalf("first save: version %d, %v", v, err)
	}
	got, err := s.Load(ctx, []string{"/t/prod-eu", "/t/absent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("loaded %d states, want 1", len(got))
	}
	out := got["/t/prod-eu"]
	in.Version = 1
	if !monitor.Equal(in, out) || out.Version != 1 || !out.ExpiresAt.Equal(in.ExpiresAt) || out.Outbox[0].Changes[0].To != monitor.StatusError {
		t.Errorf("round trip changed the state:\n in %+v\nout %+v", in, out)
	}
	// The TTL attribute must be a number of epoch seconds for DynamoDB to expire the item.
	raw, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{store.KeyAttribute: &types.AttributeValueMemberS{Value: "/t/prod-eu"}}})
	if err != nil {
		t.Fatal(err)
	}
	ttl, ok := raw.Item[store.TTLAttribute].(*types.AttributeValueMemberN)
	if !ok || ttl.Value != fmt.Sprint(in.ExpiresAt.Unix()) {
		t.Errorf("TTL attribute = %#v, want N %d", raw.Item[store.TTLAttribute], in.ExpiresAt.Unix())
	}
}

func TestSaveConflicts(t *testing.T) {
	s, _, _, _ := newStore(t)
	ctx := context.Background()
	st := sample("/t/a")
	if _, err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	// A second creation of the same instance loses.
	if _, err := s.Save(ctx, st); !errors.Is(err, monitor.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	st.Version = 1
	if v, err := s.Save(ctx, st); err != nil || v != 2 {
		t.Fatalf("update at version 1: %d, %v", v, err)
	}
	// A run that read version 1 is now stale.
	if _, err := s.Save(ctx, st); !errors.Is(err, monitor.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
}

func TestLoadBatchesOf100(t *testing.T) {
	s, _, stack, _ := newStore(t)
	ctx := context.Background()
	var keys []string
	for i := range 250 {
		k := fmt.Sprintf("/t/i-%03d", i)
		keys = append(keys, k)
		if i%2 == 0 {
			if _, err := s.Save(ctx, sample(k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	stack.ResetCalls()
	got, err := s.Load(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 125 {
		t.Errorf("loaded %d states, want 125", len(got))
	}
	if n := stack.Calls()["dynamodb.BatchGetItem"]; n != 3 {
		t.Errorf("BatchGetItem calls = %d, want 3 for 250 keys", n)
	}
}

func TestLoadFailureIsAnError(t *testing.T) {
	s, _, stack, _ := newStore(t)
	stack.SetFault(func(op string) localaws.Injection { return localaws.Fail(400, "ResourceNotFoundException") })
	if _, err := s.Load(context.Background(), []string{"/t/a"}); err == nil {
		t.Fatal("Load on a failing table returned no error")
	}
}
