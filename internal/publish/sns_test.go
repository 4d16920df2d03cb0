package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/publish"
	"github.com/proget-monitor/proget-monitor/internal/render"
)

func TestMain(m *testing.M) { os.Exit(localaws.Main(m)) }

var at = time.Date(2026, 11, 24, 12, 5, 0, 0, time.UTC)

func alert(id, instance string, to monitor.Status, sev monitor.Severity) monitor.Alert {
	return monitor.Alert{ID: id, Instance: instance, URL: "https://" + instance, Severity: sev, Time: at,
		Changes: []monitor.Change{{Component: "database", From: "OK", To: to, Since: at, Detail: "SQL Server unreachable"}}}
}

func mustRender(t *testing.T, a monitor.Alert, f render.Format) render.Message {
	t.Helper()
	m, err := render.Alert(a, nil, f, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func receive(t *testing.T, q *localaws.AlertQueue) []localaws.Delivery {
	t.Helper()
	got, err := q.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// What people and programs receive: each topic's subscribers get the body of
// their format, and the attributes, which SNS delivers for String-structured
// messages only.
func TestPublishToEachAudience(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		_, cfg := localaws.ForTestOn(t, b)
		ctx := context.Background()
		people, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "alerts"))
		if err != nil {
			t.Fatal(err)
		}
		programs, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "events"))
		if err != nil {
			t.Fatal(err)
		}
		p := publish.NewSNS(sns.NewFromConfig(cfg), map[string]string{"people": people.TopicARN, "programs": programs.TopicARN})
		a := alert("id-1", "prod-eu", monitor.StatusError, monitor.SeverityCritical)
		text, doc := mustRender(t, a, render.Text), mustRender(t, a, render.JSON)
		if err := p.Publish(ctx, "people", text); err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, "programs", doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"instance": "prod-eu", "severity": "critical", "alert-id": "id-1", "kind": "instance"}
		got := receive(t, people)
		if len(got) != 1 || got[0].Message != text.Body || got[0].Subject != "ProGet prod-eu: database Error" || !mapsEqual(got[0].Attributes, want) {
			t.Errorf("people received %+v", got)
		}
		got = receive(t, programs)
		if len(got) != 1 || !mapsEqual(got[0].Attributes, want) {
			t.Fatalf("programs received %+v", got)
		}
		var d render.Document
		if err := json.Unmarshal([]byte(got[0].Message), &d); err != nil || d.ID != "id-1" || d.Instance != "prod-eu" || d.Severity != "critical" {
			t.Errorf("programs' document %+v, %v", d, err)
		}
		if err := p.Publish(ctx, "nobody", text); err == nil {
			t.Errorf("an audience without a topic must fail")
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The filter policies the README gives work: "critical only" and "one
// instance", the latter also catching fleet messages that name the instance.
func TestReadmeFilterPolicies(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		_, cfg := localaws.ForTestOn(t, b)
		ctx := context.Background()
		all, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "alerts"))
		if err != nil {
			t.Fatal(err)
		}
		critical, err := localaws.SubscribeQueue(ctx, cfg, all.TopicARN, localaws.Name(t, "critical"), `{"severity": ["critical"]}`)
		if err != nil {
			t.Fatal(err)
		}
		one, err := localaws.SubscribeQueue(ctx, cfg, all.TopicARN, localaws.Name(t, "one"), `{"instance": ["prod-eu"]}`)
		if err != nil {
			t.Fatal(err)
		}
		p := publish.NewSNS(sns.NewFromConfig(cfg), map[string]string{"people": all.TopicARN})
		fleet, err := render.FleetMessage(render.Fleet{ID: "fleet-1", Time: at, Checked: 3, Members: []monitor.Alert{
			{ID: "m1", Instance: "prod-eu", Time: at, Changes: []monitor.Change{{Component: "instance", From: "OK", To: "Down"}}},
			{ID: "m2", Instance: "prod-us", Time: at, Changes: []monitor.Change{{Component: "instance", From: "OK", To: "Down"}}}}}, render.Text, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []render.Message{
			mustRender(t, alert("a", "prod-eu", monitor.StatusError, monitor.SeverityCritical), render.Text),
			mustRender(t, alert("b", "prod-us", monitor.StatusOK, monitor.SeverityResolved), render.Text),
			mustRender(t, alert("c", "prod-eu", monitor.StatusOK, monitor.SeverityResolved), render.Text),
			fleet,
		} {
			if err := p.Publish(ctx, "people", m); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(q *localaws.AlertQueue) []string {
			var out []string
			for _, d := range receive(t, q) {
				out = append(out, d.Attributes["alert-id"])
			}
			slices.Sort(out)
			return out
		}
		oneWant := []string{"a", "c", "fleet-1"}
		if b == localaws.Kumo {
			// kumo compares a String.Array attribute as one string, so the
			// fleet message does not match; AWS documents (and moto does)
			// that a policy matches when any element of the array matches.
			oneWant = []string{"a", "c"}
		}
		for name, tc := range map[string]struct {
			q    *localaws.AlertQueue
			want []string
		}{
			"no filter": {all, []string{"a", "b", "c", "fleet-1"}},
			"critical":  {critical, []string{"a", "fleet-1"}},
			"prod-eu":   {one, oneWant},
		} {
			if got := ids(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("%s: received %q, want %q", name, got, tc.want)
			}
		}
	})
}

// SNS's limit is the whole message: what the renderer makes at its largest is
// taken; anything larger is refused, and the error says it is the message
// itself (moto enforces the limit as AWS does; kumo does not, so only moto
// can show the refusal).
func TestSizeLimit(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		_, cfg := localaws.ForTestOn(t, b)
		ctx := context.Background()
		q, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "alerts"))
		if err != nil {
			t.Fatal(err)
		}
		p := publish.NewSNS(sns.NewFromConfig(cfg), map[string]string{"people": q.TopicARN})
		a := alert("big", "prod-eu", monitor.StatusError, monitor.SeverityCritical)
		a.Changes = nil
		for i := range 2000 {
			a.Changes = append(a.Changes, monitor.Change{Component: "connector:" + strings.Repeat("c", 150) + string(rune('a'+i%26)) + strings.Repeat("x", i%7),
				From: "OK", To: "Error", Since: at, Detail: strings.Repeat("407 Proxy Authentication Required ", 15)})
		}
		full := mustRender(t, a, render.Text)
		if full.Size() < render.MaxPublishBytes-4096 || full.Size() > render.MaxPublishBytes {
			t.Fatalf("the rendered message is %d bytes: the test needs one at the limit", full.Size())
		}
		if err := p.Publish(ctx, "people", full); err != nil {
			t.Errorf("a message of %d bytes, within SNS's limit, was refused: %v", full.Size(), err)
		}
		over := full
		over.Body += strings.Repeat("x", render.MaxPublishBytes)
		err = p.Publish(ctx, "people", over)
		var perr *publish.Error
		if b == localaws.Moto && (!errors.As(err, &perr) || !perr.Invalid() || !perr.NotAccepted()) {
			t.Errorf("a message over 256 KiB: error %v must say the message itself was refused", err)
		}
	})
}

// A failed Publish says whether SNS surely did not take the message.
func TestErrorsSayWhatSNSDid(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		stack, cfg := localaws.ForTestOn(t, b)
		ctx := context.Background()
		q, err := localaws.NewAlertQueue(ctx, cfg, localaws.Name(t, "alerts"))
		if err != nil {
			t.Fatal(err)
		}
		p := publish.NewSNS(sns.NewFromConfig(cfg, func(o *sns.Options) { o.RetryMaxAttempts = 1 }), map[string]string{"people": q.TopicARN})
		m := mustRender(t, alert("x", "prod-eu", monitor.StatusError, monitor.SeverityCritical), render.Text)
		for _, tc := range []struct {
			status            int
			code, message     string
			invalid, accepted bool
		}{
			{403, "AuthorizationError", "", false, false},
			{400, "InvalidParameter", "Invalid parameter: Message too long", true, false},
			// The topic, not the message, is wrong: no message may be given
			// up for it.
			{400, "InvalidParameter", "Invalid parameter: TopicArn", false, false},
			{400, "InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics", false, false},
			{400, "Throttled", "", false, false},
			{500, "InternalError", "", false, true},
		} {
			stack.SetFault(func(op string) localaws.Injection {
				if op != "sns.Publish" {
					return localaws.Injection{}
				}
				return localaws.Injection{Status: tc.status, Code: tc.code, Message: tc.message}
			})
			err := p.Publish(ctx, "people", m)
			var perr *publish.Error
			if !errors.As(err, &perr) || perr.Invalid() != tc.invalid || perr.NotAccepted() == tc.accepted {
				t.Errorf("%d %s: error %v: invalid %v, not accepted %v", tc.status, tc.code, err, tc.invalid, !tc.accepted)
			}
		}
		stack.SetFault(nil)

		// The SDK retries a 5xx: a refusal on the retry does not make the
		// first attempt's message surely untaken.
		var calls atomic.Int32
		stack.SetFault(func(op string) localaws.Injection {
			if op != "sns.Publish" {
				return localaws.Injection{}
			}
			if calls.Add(1) == 1 {
				return localaws.Fail(500, "InternalError")
			}
			return localaws.Fail(400, "AuthorizationError")
		})
		retrying := publish.NewSNS(sns.NewFromConfig(cfg, func(o *sns.Options) { o.RetryMaxAttempts = 2 }), map[string]string{"people": q.TopicARN})
		err = retrying.Publish(ctx, "people", m)
		stack.SetFault(nil)
		var perr *publish.Error
		if calls.Load() != 2 || !errors.As(err, &perr) || perr.NotAccepted() {
			t.Errorf("after %d attempts, a 500 then a 403: %v must say SNS may have taken it", calls.Load(), err)
		}
	})
}
