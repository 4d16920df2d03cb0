package proget_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

const key = "s3cr3t-api-key-0123456789"

const targetKey = "/proget-monitor/targets/prod-eu"

func target(url string, apiKey string) monitor.Target {
	return monitor.Target{Name: "prod-eu", Key: targetKey, URL: url, APIKey: monitor.NewSecret(apiKey)}
}

// summarize is the instance's status and detail when it is not up, else
// every component's status.
func summarize(o monitor.Observation) string {
	if !o.Up() {
		return string(o.Instance.Status) + ": " + o.Instance.Detail
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
		gen     progetsim.Generation
		setup   func(*progetsim.Instance)
		want    string
		release string
	}{
		{progetsim.V5Legacy, func(in *progetsim.Instance) {},
			"NoHealthAPI: /health answered 404: ProGet older than 5.2.9 has no health endpoint, or the url is not ProGet's root (check " + targetKey + "/url)", ""},
		{progetsim.V5, func(in *progetsim.Instance) { in.SetLicenseError("expired") },
			"instance=OK license=Error service=OK connector-health=OK connector:npmjs.org=OK connector:nuget.org=Error", "5.2.9"},
		{progetsim.V2023, func(in *progetsim.Instance) { in.SetPascalCase(true) },
			"instance=OK database=OK license=OK service=OK connector-health=OK connector:npmjs.org=OK connector:nuget.org=Error", "23.0.27"},
		{progetsim.V2024, func(in *progetsim.Instance) { in.SetDatabaseError("SQL down") },
			"instance=OK database=Error license=OK service=OK connector-health=Unsupported", "24.0.22"},
		{progetsim.V2026, func(in *progetsim.Instance) { in.SetReplication(new(""), &errText) },
			"instance=OK database=OK license=OK service=OK replication-server=OK replication-client=Error connector-health=Unsupported", "26.0.3"},
		{progetsim.V2026Early, func(in *progetsim.Instance) { in.SetServiceError("The service is not running.") },
			"instance=OK database=OK license=OK service=Error connector-health=Unsupported", "26.0.0"},
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
			if o.ResponseTime <= 0 || o.Release != tc.release || o.NetworkFailure {
				t.Errorf("response time %v, release %q (want %q), network failure %v", o.ResponseTime, o.Release, tc.release, o.NetworkFailure)
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
		!strings.Contains(wrong.Connectors.Detail, targetKey+"/api-key") {
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
	const crash = "System.NullReferenceException: Object reference not set to an instance of an object."
	for _, gen := range []progetsim.Generation{progetsim.V2024, progetsim.V2026, progetsim.V2026Early} {
		in := start(t, gen)
		in.SetCrash(crash)
		o := proget.New(2*time.Second).Check(context.Background(), target(in.URL(), ""))
		want := `Down: /health answered HTTP 500 Internal Server Error: "` + crash + `"`
		if got := summarize(o); got != want {
			t.Errorf("%s: got  %s\nwant %s", gen, got, want)
		}
	}
}

func TestCheckStoppedInstanceIsDown(t *testing.T) {
	in := start(t, progetsim.V2023)
	in.Stop()
	o := proget.New(time.Second).Check(context.Background(), target(in.URL(), key))
	if o.Up() || !o.NetworkFailure || o.Instance.Status != monitor.StatusDown || o.Instance.Detail != "/health: connection refused" {
		t.Errorf("got %+v network=%v", o.Instance, o.NetworkFailure)
	}
	if o.Connectors.Status != monitor.StatusError || o.Connectors.Detail != "connector-health: connection refused" {
		t.Errorf("connectors: %+v", o.Connectors)
	}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	if o := proget.New(time.Second).Check(context.Background(), target(in.URL(), key)); !o.Up() {
		t.Errorf("restarted instance still down: %s", o.Instance.Detail)
	}
}

// TestCheckOddAnswers covers answers that are not what a ProGet gives, as a
// proxy, a load balancer or a broken server might.
func TestCheckOddAnswers(t *testing.T) {
	huge := strings.Repeat(" ", 2<<20) + `{"databaseStatus":"OK"}`
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string // SRV stands for the server's URL
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
		{"302 to a login page on the same host", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				fmt.Fprint(w, "<html><head><title>Log in - Corp SSO</title></head><body>form</body></html>")
				return
			}
			http.Redirect(w, r, "/login?return="+r.URL.Path, http.StatusFound)
		}, `Down: /health, redirected to SRV/login, answered HTTP 200 but the body is not JSON: an HTML page titled "Log in - Corp SSO"`},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.String(), http.StatusFound) },
			"Down: /health was redirected more than 10 times, last to SRV/health: a redirect loop? Check the server or proxy in front of ProGet, and " + targetKey + "/url"},
		{"redirect without a usable Location", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://[::1")
			w.WriteHeader(http.StatusMovedPermanently)
		}, "Down: /health answered HTTP 301 but its Location header is not a URL"},
		{"302 without a Location", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) },
			"Down: /health answered HTTP 302 Found"},
	}
	client := proget.New(200 * time.Millisecond)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			o := client.Check(context.Background(), target(srv.URL, ""))
			if got, want := summarize(o), strings.ReplaceAll(tc.want, "SRV", srv.URL); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// A check that could not connect at all says so, so that a run can tell its
// own network apart from instances that are down.
func TestUnreachableIsToldApart(t *testing.T) {
	in := start(t, progetsim.V2024)
	client := proget.New(time.Second)
	if o := client.Check(context.Background(), target(in.URL(), "")); o.Unreachable || o.NetworkFailure {
		t.Errorf("an instance that answers: %+v", o)
	}
	in.Stop()
	if o := client.Check(context.Background(), target(in.URL(), "")); !o.Unreachable || !o.NetworkFailure {
		t.Errorf("a refused connection must read unreachable: %+v", o.Instance)
	}
	if o := client.Check(context.Background(), target("https://proget.invalid", "")); !o.Unreachable {
		t.Errorf("a name that does not resolve must read unreachable: %+v", o.Instance)
	}
	in.Start()
	in.SetLatency(5 * time.Second)
	if o := client.Check(context.Background(), target(in.URL(), "")); o.Unreachable || !o.NetworkFailure {
		t.Errorf("a connection made, then no answer, is not unreachable: %+v", o.Instance)
	}
}
