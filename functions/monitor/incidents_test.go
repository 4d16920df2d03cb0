package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/render"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

// The biggest incidents a user can have reach the topic, each alert once,
// and the instance's next change after each goes out too: 120 connectors
// failing at once (an outbound proxy answering 407), and 80 of 100 instances
// down (a VPC or NAT outage).
func TestBigIncidentsAreDeliveredOnce(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		var conns []progetsim.Connector
		for i := range 120 {
			conns = append(conns, progetsim.Connector{ID: i, Name: fmt.Sprintf("upstream-%03d.%s.example.com", i, strings.Repeat("mirror", 10)),
				URL: "https://registry.example.com", State: "healthy"})
		}
		be := w.proget["build-eu"]
		be.SetConnectors(conns...)
		for i := range 97 {
			w.addInstance(fmt.Sprintf("fleet-%02d", i), progetsim.V2024)
		}
		expectSubjects(t, "first run", w.mustRun())

		for _, c := range conns {
			be.SetConnectorState(c.Name, "error", "407 Proxy Authentication Required from proxy.corp.example:3128 ("+strings.Repeat("x", 60)+")")
		}
		got := w.mustRun()
		expectSubjects(t, "120 connectors fail at once", got, "ProGet build-eu: 120 connectors Error")
		if len(got) == 1 && !strings.Contains(got[0].Message, "connector upstream-000") {
			t.Errorf("the alert lists no connector:\n%.500s", got[0].Message)
		}
		for _, c := range conns {
			be.SetConnectorState(c.Name, "healthy", "")
		}
		expectSubjects(t, "the proxy is fixed", w.mustRun(), "ProGet build-eu: recovered")

		for i := range 80 {
			w.proget[fmt.Sprintf("fleet-%02d", i)].Stop()
		}
		got = w.mustRun()
		expectSubjects(t, "80 of 100 down", got, "ProGet monitor: 80 of 100 instances DOWN at once")
		if len(got) == 1 {
			if got[0].Attributes[render.AttrKind] != "fleet" || !strings.Contains(got[0].Message, "fleet-79") {
				t.Errorf("the fleet message %v must name every instance that fits:\n%.300s", got[0].Attributes, got[0].Message)
			}
		}
		if err := w.proget["fleet-07"].Start(); err != nil {
			t.Fatal(err)
		}
		expectSubjects(t, "one comes back", w.mustRun(), "ProGet fleet-07: recovered")
		expectSubjects(t, "quiet", w.mustRun())
	})
}

// An alert that SNS refuses as invalid goes out in its short form, once.
func TestRefusedAlertGoesOutShort(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		var calls atomic.Int32
		w.stack.SetFault(func(op string) localaws.Injection {
			if op == "sns.Publish" && calls.Add(1) == 1 {
				return localaws.Injection{Status: 400, Code: "InvalidParameter", Message: "Invalid parameter: Message too long"}
			}
			return localaws.Injection{}
		})
		w.proget["prod-eu"].SetDatabaseError("SQL down")
		got, err := w.run(`{}`)
		if err != nil {
			t.Fatalf("a refused alert sent in its short form is not a failure: %v", err)
		}
		expectSubjects(t, "refused, then short", got, "ProGet prod-eu: database Error")
		if len(got) == 1 && !strings.Contains(got[0].Message, "short form") {
			t.Errorf("people did not get the short form:\n%s", got[0].Message)
		}
		w.stack.SetFault(nil)
		expectSubjects(t, "once", w.mustRun())
	})
}

// While SNS refuses to publish for a long time (a broken topic policy), the
// changes are kept and merged, the state stays small, and when SNS is back
// people hear what happened, in at most ten messages.
func TestLongSNSOutage(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"STORM_PERCENT": "0"})
		w.mustRun()
		w.stack.SetFault(localaws.FailOn("sns.Publish", 403, "AuthorizationError"))
		for i := range 14 {
			if i%2 == 0 {
				w.proget["prod-us"].Stop()
			} else if err := w.proget["prod-us"].Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.run(`{}`); err == nil {
				t.Fatal("a run whose alerts are not delivered must fail")
			}
		}
		if n := len(w.stored("prod-us").Outbox); n > 10 {
			t.Errorf("%d undelivered alerts stored: the outbox must stay bounded", n)
		}
		w.stack.SetFault(nil)
		got := w.mustRun()
		if len(got) == 0 || len(got) > 10 {
			t.Fatalf("%d messages after the outage, want 1 to 10", len(got))
		}
		// SQS does not keep order: some message, whichever, must tell that
		// the instance is back, and nothing may be left to send.
		back := false
		for _, m := range got {
			back = back || strings.Contains(m.Message, "Down -> OK")
		}
		if !back {
			t.Errorf("no message tells the instance is back: %v", subjects(got))
		}
		if s := w.stored("prod-us"); len(s.Outbox) != 0 || s.Components["instance"].Status != monitor.StatusOK {
			t.Errorf("after the outage: %d pending, instance %s", len(s.Outbox), s.Components["instance"].Status)
		}
		expectSubjects(t, "once", w.mustRun())
	})
}

// A connector whose name is not ASCII gets a metric dimension CloudWatch
// accepts (the same on every run); alerts keep its real name.
func TestNonASCIINames(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"METRICS": "full"})
		w.proget["build-eu"].SetConnectors(progetsim.Connector{ID: 1, Name: "Bibliothèque-npm", State: "healthy"})
		w.mustRun()
		w.proget["build-eu"].SetConnectorState("Bibliothèque-npm", "error", "timeout")
		got := w.mustRun()
		expectSubjects(t, "non-ASCII connector fails", got, "ProGet build-eu: connector Biblioth?que-npm Error")
		if len(got) == 1 && !strings.Contains(got[0].Message, "connector Bibliothèque-npm") {
			t.Errorf("the text must keep the real name:\n%s", got[0].Message)
		}
		if w.summary.MetricsPublished == 0 || len(w.summary.Errors) != 0 {
			t.Errorf("metrics: %+v", w.summary)
		}
		if !w.series()["ConnectorHealthy{Connector=Biblioth%C3%A8que-npm,Instance=build-eu}"] {
			t.Errorf("no ConnectorHealthy series with the mapped name: %v", w.series())
		}
	})
}

// TestHugeConnectorListFitsInOneItem: an instance with thousands of connectors
// is stored (DynamoDB items hold 400 KB at most), with every problem kept,
// and a connector beyond the tracking cap that recovers is a recovery.
func TestHugeConnectorListFitsInOneItem(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		var conns []progetsim.Connector
		for i := range 3000 {
			conns = append(conns, progetsim.Connector{ID: i, Name: fmt.Sprintf("feed-%04d.registry.example.com", i),
				URL: "https://registry.example.com", State: "healthy"})
		}
		w.proget["build-eu"].SetConnectors(conns...)
		expectSubjects(t, "huge list", w.mustRun())
		w.proget["build-eu"].SetConnectorState("feed-1500.registry.example.com", "error", strings.Repeat("upstream failure detail ", 10))
		expectSubjects(t, "one fails", w.mustRun(), "ProGet build-eu: connector feed-1500.registry.example.com Error")
		w.proget["build-eu"].SetConnectorState("feed-1500.registry.example.com", "healthy", "")
		got := w.mustRun()
		expectSubjects(t, "it recovers", got, "ProGet build-eu: recovered")
		if len(got) == 1 && strings.Contains(got[0].Message, "Removed") {
			t.Errorf("a connector ProGet still lists was reported removed:\n%s", got[0].Message)
		}
		raw, err := dynamodb.NewFromConfig(w.aws).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(w.table),
			Key: map[string]ddbtypes.AttributeValue{store.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: w.path + "build-eu"}}})
		if err != nil {
			t.Fatal(err)
		}
		if size := store.ItemSize(raw.Item); size > 350_000 {
			t.Errorf("the item is %d bytes: DynamoDB refuses items over 400 KB", size)
		}
	})
}
