package proget_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

const key = "s3cr3t-api-key-0123456789"

func target(url string, apiKey string) monitor.Target {
	return monitor.Target{Name: "prod-eu", Key: "/proget-monitor/targets/prod-eu", URL: url, APIKey: monitor.NewSecret(apiKey)}
}

func summarize(o monitor.Observation) string {
	if !o.Up {
		return "Down: " + o.Reason
	}
	var parts []string
	for _, r := range o.Readings() {
		parts = append(parts, fmt.Sprintf("%s=%s", r.Component, r.Status))
	}
	return strings.Join(parts, " ")
}

func start(t *testing.T, gen progetsim.Generation) *progetsim.Instance {
	t.Helper()
	in := progetsim.New(gen)
	in.SetAPIKey(key)
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	return in
}

func TestCheckEveryGeneration(t *testing.T) {
	client := proget.New(2 * time.Second)
	ctx := context.Background()
	conns := []progetsim.Connector{
		{ID: 1, Name: "npmjs.org", State: "healthy"},
		{ID: 3, Name: "nuget.org", State: "unhealthy", Error: "Connection timed out.", Typo: true},
	}
	errText := "replication hub unreachable"
	cases := []struct {
		gen   progetsim.Generation
		setup func(*progetsim.Instance)
		want  string
	}{
		{progetsim.V5, func(in *progetsim.Instance) { in.SetLicenseError("expired") },
			"instance=OK database=OK license=Error service=OK connector-health=OK connector:npmjs.org=OK connector:nuget.org=Error"},
		{progetsim.V2023, func(in *progetsim.Instance) { in.SetPascalCase(true) },
			"instance=OK database=OK license=OK service=OK connector-health=OK connector:npmjs.org=OK connector:nuget.org=Error"},
		{progetsim.V2024, func(in *progetsim.Instance) { in.SetDatabaseError("SQL down") },
			"instance=OK database=Error license=OK service=OK connector-health=Unsupported"},
		{progetsim.V2026, func(in *progetsim.Instance) { in.SetReplication(new(""), &errText) },
			"instance=OK database=OK license=OK service=OK replication-server=OK replication-client=Error connector-health=Unsupported"},
	}
	for _, tc := range cases {
		t.Run(string(tc.gen), func(t *testing.T) {
			in := start(t, tc.gen)
			in.SetConnectors(conns...)
			tc.setup(in)
			o := client.Check(ctx, target(in.URL(), key))
			if got := summarize(o); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if o.ResponseTime <= 0 || o.Release == "" {
				t.Errorf("response time %v, release %q: want both", o.ResponseTime, o.Release)
			}
		})
	}
}

func TestCheckConnectorEndpointStates(t *testing.T) {
	client := proget.New(2 * time.Second)
	in := start(t, progetsim.V2023)
	in.SetConnectors(progetsim.Connector{ID: 1, Name: "npmjs.org", State: "healthy"})

	wrong := client.Check(context.Background(), target(in.URL(), "wrong-key"))
	if wrong.Connectors.Status != monitor.StatusRejected || wrong.ConnectorsRead ||
		!strings.Contains(wrong.Connectors.Detail, "/proget-monitor/targets/prod-eu/api-key") {
		t.Errorf("rejected key: %+v read=%v", wrong.Connectors, wrong.ConnectorsRead)
	}
	none := client.Check(context.Background(), target(in.URL(), ""))
	if none.Connectors.Status != monitor.StatusNotConfigured || len(none.ConnectorList) != 0 {
		t.Errorf("no key: %+v", none.Connectors)
	}
	for _, r := range in.Requests() {
		if strings.Contains(r.URL, "connector-health") && r.Header.Get("X-ApiKey") == "" {
			t.Errorf("connector-health requested without a key: %s", r.URL)
		}
		if strings.Contains(r.URL, "key=") || r.Header.Get("Authorization") != "" {
			t.Errorf("the key must travel only as X-ApiKey: %s %v", r.URL, r.Header)
		}
		if strings.HasPrefix(r.URL, "/health") && r.Header.Get("X-ApiKey") != "" {
			t.Errorf("/health must be called without credentials")
		}
	}
}

func TestCheckCrashGivesFirstLine(t *testing.T) {
	in := start(t, progetsim.V2024)
	in.SetCrash("System.NullReferenceException: Object reference not set to an instance of an object.")
	o := proget.New(2*time.Second).Check(context.Background(), target(in.URL(), ""))
	want := `/health answered HTTP 500 Internal Server Error: "System.NullReferenceException: Object reference not set to an instance of an object."`
	if o.Up || o.Reason != want {
		t.Errorf("reason = %q\nwant     %q", o.Reason, want)
	}
}

func TestCheckStoppedInstanceIsDown(t *testing.T) {
	in := start(t, progetsim.V2023)
	in.Stop()
	o := proget.New(time.Second).Check(context.Background(), target(in.URL(), key))
	if o.Up || !o.NetworkFailure || o.Reason != "/health: connection refused" {
		t.Errorf("got up=%v network=%v reason=%q", o.Up, o.NetworkFailure, o.Reason)
	}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	if o := proget.New(time.Second).Check(context.Background(), target(in.URL(), key)); !o.Up {
		t.Errorf("restarted instance still down: %s", o.Reason)
	}
}

// TestCheckOddAnswers covers answers that are not what a ProGet gives, as a
// proxy, a load balancer or a broken server might.
func TestCheckOddAnswers(t *testing.T) {
	huge := strings.Repeat(" ", 2<<20) + `{"databaseStatus":"OK"}`
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"html login page", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Sign in</title></head><body>SSO</body></html>")
		}, `Down: /health answered HTTP 200 but the body is not JSON: an HTML page titled "Sign in"`},
		{"empty body", func(w http.ResponseWriter, r *http.Request) {}, "Down: /health answered HTTP 200 but the body is empty"},
		{"plain OK", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "OK") }, "instance=OK connector-health=NotConfigured"},
		{"503 from a balancer", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		}, `Down: /health answered HTTP 503 Service Unavailable: "upstream unavailable"`},
		{"huge body", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, huge) },
			"Down: /health answered HTTP 200 but the body is larger than 1048576 bytes"},
		{"slow server", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, "Down: /health: no answer within 200ms"},
		{"trickling body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			for {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(20 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		}, "Down: /health answered HTTP 200 but no answer within 200ms"},
		{"302 to a login page", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				fmt.Fprint(w, "<html><head><title>Log in - Corp SSO</title></head><body>form</body></html>")
				return
			}
			http.Redirect(w, r, "/login?return="+r.URL.Path, http.StatusFound)
		}, `Down: /health answered HTTP 200 but the body is not JSON: an HTML page titled "Log in - Corp SSO"`},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.String(), http.StatusFound) },
			"Down: /health: stopped after 5 redirects"},
	}
	client := proget.New(200 * time.Millisecond)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			o := client.Check(context.Background(), target(srv.URL, ""))
			if got := summarize(o); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestAPIKeyNeverLeavesItsOrigin: a redirect to another origin must not carry the key.
func TestAPIKeyNeverLeavesItsOrigin(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for name, v := range r.Header {
			if strings.Contains(strings.Join(v, ","), key) {
				leaked = append(leaked, name)
			}
		}
		if strings.Contains(r.URL.String(), key) {
			leaked = append(leaked, "url")
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	defer other.Close()
	in := start(t, progetsim.V2023)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
			return
		}
		http.Redirect(w, r, in.URL()+r.URL.RequestURI(), http.StatusFound)
	}))
	defer front.Close()

	o := proget.New(2*time.Second).Check(context.Background(), target(front.URL, key))
	if len(leaked) > 0 {
		t.Fatalf("the API key reached another origin in %v", leaked)
	}
	if o.Connectors.Status != monitor.StatusRejected || !strings.Contains(o.Connectors.Detail, "never sent to another origin") {
		t.Errorf("connectors = %+v, want a rejection that explains the redirect", o.Connectors)
	}
	if !o.Up {
		t.Errorf("/health through a redirect should still be read: %s", o.Reason)
	}
}
