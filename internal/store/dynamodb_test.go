package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

func TestMain(m *testing.M) { os.Exit(localaws.Main(m)) }

type fixture struct {
	store  *store.DynamoDB
	client *dynamodb.Client
	stack  *localaws.Stack
	table  string
}

func newStore(t *testing.T, b localaws.Backend) fixture {
	t.Helper()
	stack, cfg := localaws.ForTestOn(t, b)
	table := localaws.Name(t, "state")
	c := dynamodb.NewFromConfig(cfg)
	if err := store.CreateTable(context.Background(), c, table); err != nil {
		t.Fatal(err)
	}
	return fixture{store.NewDynamoDB(c, table), c, stack, table}
}

var at = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func sample(key string) monitor.State {
	return monitor.State{
		Key: key, Instance: "prod-eu",
		Components: map[string]monitor.ComponentState{
			"database": {Status: monitor.StatusError, Detail: "SQL down", Since: at, Alerted: monitor.StatusError,
				Observed: monitor.StatusError, ObservedSince: at, Streak: 2, Notified: at},
			"connector:nuget.org": {Status: monitor.StatusOK, Since: at, Alerted: monitor.StatusOK, Observed: monitor.StatusOK, ObservedSince: at, Streak: 1},
		},
		Release: "24.0.3", ReleaseTold: "24.0.1", Extensions: []string{"Azure 2.0.1"}, ExtensionsTold: []string{"Azure 2.0.0"},
		Outbox: []monitor.Pending{
			{Alert: monitor.Alert{ID: "abc", Instance: "prod-eu", URL: "https://p", Severity: monitor.SeverityCritical, Time: at,
				Changes: []monitor.Change{{Component: "database", From: monitor.StatusOK, To: monitor.StatusError, Since: at, Detail: "SQL down"}},
				Notices: []monitor.Notice{{Kind: "version", From: "24.0.1", To: "24.0.3"}}},
				Tried: true, Done: []string{"people"}},
			{Alert: monitor.Alert{ID: "def", Instance: "prod-eu", URL: "https://p", Severity: monitor.SeverityResolved, Time: at.Add(time.Minute),
				Changes: []monitor.Change{{Component: "instance", From: monitor.StatusOK, To: monitor.StatusOK, Meanwhile: monitor.StatusDown, Since: at}}},
				Fleet: "fleet-1", FleetChecked: 7},
		},
		OutboxLease: at.Add(time.Minute),
		UpdatedAt:   at,
		ExpiresAt:   at.Add(30 * 24 * time.Hour),
	}
}

func TestSaveAndLoadRoundTrip(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		ctx := context.Background()
		in := sample("/t/prod-eu")
		v, err := f.store.Save(ctx, in)
		if err != nil || v != 1 {
			t.Fatalf("first save: version %d, %v", v, err)
		}
		got, err := f.store.Load(ctx, []string{"/t/prod-eu", "/t/absent"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("loaded %d states, want 1", len(got))
		}
		out := got["/t/prod-eu"]
		if !monitor.Equal(in, out) || out.Version != 1 || !out.ExpiresAt.Equal(in.ExpiresAt) || !out.UpdatedAt.Equal(in.UpdatedAt) {
			t.Errorf("round trip changed the state:\n in %+v\nout %+v", in, out)
		}
		// The TTL attribute must be a number of epoch seconds for DynamoDB to expire the item.
		raw := f.raw(t, "/t/prod-eu")
		ttl, ok := raw[store.TTLAttribute].(*types.AttributeValueMemberN)
		if !ok || ttl.Value != fmt.Sprint(in.ExpiresAt.Unix()) {
			t.Errorf("TTL attribute = %#v, want N %d", raw[store.TTLAttribute], in.ExpiresAt.Unix())
		}
	})
}

func (f fixture) raw(t *testing.T, key string) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.table),
		Key: map[string]types.AttributeValue{store.KeyAttribute: &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// Writes are conditional on the version read. On moto (as on AWS) this also
// proves the requests are valid: an expression attribute name that no
// expression uses is refused, which stopped every update after the first.
func TestSaveConflicts(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		ctx := context.Background()
		st := sample("/t/a")
		if _, err := f.store.Save(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Save(ctx, st); !errors.Is(err, monitor.ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
		st.Version = 1
		if v, err := f.store.Save(ctx, st); err != nil || v != 2 {
			t.Fatalf("update at version 1: %d, %v", v, err)
		}
		if _, err := f.store.Save(ctx, st); !errors.Is(err, monitor.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
		st.Version = 2
		if v, err := f.store.Save(ctx, st); err != nil || v != 3 {
			t.Fatalf("update at version 2: %d, %v", v, err)
		}
	})
}

func TestLoadBatchesOf100(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		ctx := context.Background()
		var keys []string
		for i := range 250 {
			k := fmt.Sprintf("/t/i-%03d", i)
			keys = append(keys, k)
			if i%2 == 0 {
				if _, err := f.store.Save(ctx, sample(k)); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.stack.ResetCalls()
		got, err := f.store.Load(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 125 {
			t.Errorf("loaded %d states, want 125", len(got))
		}
		if n := f.stack.Calls()["dynamodb.BatchGetItem"]; n != 3 {
			t.Errorf("BatchGetItem calls = %d, want 3 for 250 keys", n)
		}
	})
}

func TestLoadFailureIsAnError(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		f.stack.SetFault(func(op string) localaws.Injection { return localaws.Fail(400, "ResourceNotFoundException") })
		if _, err := f.store.Load(context.Background(), []string{"/t/a"}); err == nil || !strings.Contains(err.Error(), f.table) {
			t.Fatalf("Load on a failing table: %v, want an error naming the table", err)
		}
	})
}

// The targets marker travels with the states a run reads anyway.
func TestTargetsMarker(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		ctx := context.Background()
		if _, err := f.store.Save(ctx, sample("/t/a")); err != nil {
			t.Fatal(err)
		}
		if m, err := f.store.Marker(ctx); err != nil || m != "" {
			t.Fatalf("marker before any change: %q, %v", m, err)
		}
		if err := f.store.MarkTargetsChanged(ctx, "event-1", at); err != nil {
			t.Fatal(err)
		}
		f.stack.ResetCalls()
		states, m, err := f.store.Snapshot(ctx, []string{"/t/a", "/t/b"})
		if err != nil || m != "event-1" || len(states) != 1 {
			t.Fatalf("snapshot: %d states, marker %q, %v", len(states), m, err)
		}
		if n := f.stack.Calls()["dynamodb.BatchGetItem"]; n != 1 {
			t.Errorf("the marker cost %d reads, want it in the states' one", n)
		}
		if _, ok := states[store.MarkerKey]; ok {
			t.Errorf("the marker must not read as an instance")
		}
	})
}

// An instance at the limits: 500 connectors all failing, with 200-character
// names and 1,000-character details, and an outbox holding alerts about all
// of them. DynamoDB refuses an item over 400 KB (moto too; kumo takes
// anything), and the store keeps every item well under it.
func TestItemAtTheExtremes(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		ctx := context.Background()
		s := monitor.State{Key: "/t/huge", Instance: "huge", Components: map[string]monitor.ComponentState{},
			ExpiresAt: at.Add(time.Hour), UpdatedAt: at}
		detail := strings.Repeat("upstream failure: 407 Proxy Authentication Required ", 20)[:1000]
		var changes []monitor.Change
		for i := range monitor.MaxConnectors {
			name := fmt.Sprintf("connector:%04d-%s", i, strings.Repeat("n", 190))
			s.Components[name] = monitor.ComponentState{Status: monitor.StatusError, Detail: detail, Since: at, Alerted: monitor.StatusError,
				Observed: monitor.StatusError, ObservedSince: at, Streak: 3, Notified: at}
			changes = append(changes, monitor.Change{Component: name, From: monitor.StatusOK, To: monitor.StatusError, Since: at, Detail: detail})
		}
		s.Outbox = []monitor.Pending{{Alert: monitor.Alert{ID: "all", Instance: "huge", Severity: monitor.SeverityCritical, Time: at, Changes: changes}, Tried: true}}
		v, err := f.store.Save(ctx, s)
		if err != nil {
			t.Fatalf("the state of an instance at the limits could not be written: %v", err)
		}
		if size := store.ItemSize(f.raw(t, "/t/huge")); size > 350_000 {
			t.Errorf("the item is %d bytes: not well under DynamoDB's 400 KB", size)
		}
		got, err := f.store.Load(ctx, []string{"/t/huge"})
		if err != nil {
			t.Fatal(err)
		}
		back := got["/t/huge"]
		if len(back.Components) != monitor.MaxConnectors || len(back.Outbox) != 1 || len(back.Outbox[0].Changes) != monitor.MaxConnectors {
			t.Fatalf("components or alerts were lost: %d components, outbox %d", len(back.Components), len(back.Outbox))
		}
		for name, c := range back.Components {
			if c.Status != monitor.StatusError || !strings.HasPrefix(detail, strings.TrimSuffix(c.Detail, "...")) {
				t.Fatalf("%s came back as %+v", name, c)
			}
		}
		s.Version = v
		if _, err := f.store.Save(ctx, s); err != nil {
			t.Errorf("the next write of the same instance: %v", err)
		}
	})
}

// An item of the first layout (long attribute names, RFC 3339 times) is read
// as it was: an upgrade keeps every instance's state and pending alerts.
func TestReadsTheFirstLayout(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		f := newStore(t, b)
		ctx := context.Background()
		s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
		n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
		m := func(kv map[string]types.AttributeValue) types.AttributeValue {
			return &types.AttributeValueMemberM{Value: kv}
		}
		item := map[string]types.AttributeValue{
			"target": s("/t/old"), "instance": s("old"), "version": n("4"), "release": s("23.0.27"),
			"components": m(map[string]types.AttributeValue{
				"database": m(map[string]types.AttributeValue{"status": s("Error"), "detail": s("SQL down"),
					"since": s("2026-11-24T10:00:00Z"), "alerted": s("Error"), "observed": s("Error"),
					"observedSince": s("2026-11-24T10:00:00Z"), "streak": n("2"), "notified": s("2026-11-24T10:00:00Z")}),
			}),
			"outbox": &types.AttributeValueMemberL{Value: []types.AttributeValue{m(map[string]types.AttributeValue{
				"id": s("old-alert"), "instance": s("old"), "url": s("https://old"), "severity": s("critical"),
				"time": s("2026-11-24T10:00:00Z"),
				"changes": &types.AttributeValueMemberL{Value: []types.AttributeValue{m(map[string]types.AttributeValue{
					"component": s("database"), "from": s("OK"), "to": s("Error"), "since": s("2026-11-24T10:00:00Z")})}},
			})}},
			"updated_at": s("2026-11-24T10:00:00Z"), "expires_at": n("1790000000"),
		}
		if _, err := f.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: item}); err != nil {
			t.Fatal(err)
		}
		got, err := f.store.Load(ctx, []string{"/t/old"})
		if err != nil {
			t.Fatal(err)
		}
		old := got["/t/old"]
		db := old.Components["database"]
		if old.Version != 4 || db.Status != monitor.StatusError || !db.Since.Equal(at) || db.Streak != 2 || old.Release != "23.0.27" {
			t.Errorf("state of the first layout: %+v", old)
		}
		if len(old.Outbox) != 1 || old.Outbox[0].ID != "old-alert" || !old.Outbox[0].Tried || old.Outbox[0].Changes[0].To != monitor.StatusError {
			t.Errorf("its pending alert: %+v", old.Outbox)
		}
		if _, err := f.store.Save(ctx, old); err != nil {
			t.Errorf("rewriting it in the compact layout: %v", err)
		}
	})
}
