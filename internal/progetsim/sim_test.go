package progetsim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// noFollow asks without following redirects, to see them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get returns "<status> <kind>" where kind is json, text:<body>, html or
// empty, and the JSON object when there is one.
func get(t *testing.T, url string, header ...string) (string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	kind := "empty"
	switch ct := resp.Header.Get("Content-Type"); {
	case len(body) == 0:
	case strings.HasPrefix(ct, "application/json"):
		kind = "json"
		json.Unmarshal(body, &obj)
	case strings.HasPrefix(ct, "text/html"):
		kind = "html"
	default:
		kind = "text:" + strings.SplitN(string(body), "\n", 2)[0]
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, kind), obj
}

func started(t *testing.T, gen progetsim.Generation) *progetsim.Instance {
	t.Helper()
	in := progetsim.New(gen)
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	return in
}

// TestEndpointsByGeneration holds the simulator to PROGET-VERSIONS.md.
func TestEndpointsByGeneration(t *testing.T) {
	paths := []string{"/health", "/health?format=json", "/health/json", "/api/connector-health/"}
	cases := []struct {
		gen              progetsim.Generation
		healthy, failing []string // per path
	}{
		{progetsim.V5Legacy, []string{"404 html", "404 html", "404 html", "200 json"}, []string{"404 html", "404 html", "404 html", "200 json"}},
		{progetsim.V5, []string{"200 json", "200 json", "404 html", "200 json"}, []string{"200 json", "200 json", "404 html", "200 json"}},
		{progetsim.V2023, []string{"200 json", "200 json", "404 html", "200 json"}, []string{"200 json", "200 json", "404 html", "200 json"}},
		{progetsim.V2024, []string{"200 json", "200 json", "404 html", "404 html"}, []string{"500 json", "500 json", "404 html", "404 html"}},
		{progetsim.V2026, []string{"200 text:OK", "200 json", "200 json", "404 html"}, []string{"500 text:Database: down", "500 json", "500 json", "404 html"}},
		{progetsim.V2026Early, []string{"200 text:OK", "200 text:OK", "200 json", "404 html"}, []string{"500 text:Database: down", "500 text:Database: down", "500 json", "404 html"}},
	}
	for _, tc := range cases {
		in := started(t, tc.gen)
		in.SetAPIKey("k")
		for _, failing := range []bool{false, true} {
			want := tc.healthy
			if failing {
				in.SetDatabaseError("down")
				want = tc.failing
			}
			for i, p := range paths {
				if got, _ := get(t, in.URL()+p, "X-ApiKey", "k"); got != want[i] {
					t.Errorf("%s (failing %v) %s: %s, want %s", tc.gen, failing, p, got, want[i])
				}
			}
		}
	}
}

func TestOtherProduct(t *testing.T) {
	in := started(t, progetsim.V2023)
	in.SetAPIKey("k")
	in.SetProduct(progetsim.ProductBuildMaster, "build-01")
	if _, doc := get(t, in.URL()+"/health"); doc["applicationName"] != "BuildMaster" || doc["instanceName"] != "build-01" {
		t.Errorf("BuildMaster: %v", doc)
	}
	if got, _ := get(t, in.URL()+"/api/connector-health/", "X-ApiKey", "k"); got != "404 html" {
		t.Errorf("BuildMaster has no connector-health: %s", got)
	}
	in.SetProduct(progetsim.ProductOtter, "")
	if _, doc := get(t, in.URL()+"/health"); doc["applicationName"] != "Otter" || doc["instanceName"] != nil {
		t.Errorf("Otter: %v", doc)
	}
}

func TestRedirect(t *testing.T) {
	in := started(t, progetsim.V2023)
	in.SetRedirect("/health/", http.StatusTemporaryRedirect, "https://sso.corp.example/login")
	req, _ := http.NewRequest(http.MethodGet, in.URL()+"/health?format=json", nil)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "https://sso.corp.example/login" {
		t.Errorf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	in.SetRedirect("/health", 0, "")
	if got, _ := get(t, in.URL()+"/health"); got != "200 json" {
		t.Errorf("after removing the redirect: %s", got)
	}
}

// TestHostMountsInstancesUnderPaths: several instances behind one host, as
// behind a reverse proxy; a stopped one gives the proxy's 502.
func TestHostMountsInstancesUnderPaths(t *testing.T) {
	host := progetsim.NewHost()
	a, b := progetsim.New(progetsim.V2023), progetsim.New(progetsim.V2026)
	host.Mount("/proget-a", a)
	host.Mount("proget-b/", b)
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Stop()
	if a.URL() != host.URL()+"/proget-a" || b.URL() != host.URL()+"/proget-b" {
		t.Fatalf("urls %s %s under %s", a.URL(), b.URL(), host.URL())
	}
	for _, tc := range []struct{ url, want string }{
		{a.URL() + "/health", "200 json"},
		{b.URL() + "/health", "200 text:OK"},
		{b.URL() + "/health/json", "200 json"},
		{host.URL() + "/health", "404 html"},
		{host.URL() + "/proget-ab/health", "404 html"},
	} {
		if got, _ := get(t, tc.url); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.url, got, tc.want)
		}
	}
	if r := a.Requests(); len(r) != 1 || r[0].URL != "/health" {
		t.Errorf("a mounted instance sees its own paths: %v", r)
	}
	b.Stop()
	if got, _ := get(t, b.URL()+"/health"); got != "502 text:502 Bad Gateway" {
		t.Errorf("stopped behind the host: %s", got)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, b.URL()+"/health"); got != "200 text:OK" {
		t.Errorf("started again: %s", got)
	}
	url := host.URL()
	host.Stop()
	if err := host.Start(); err != nil || host.URL() != url {
		t.Errorf("the host comes back at %s (%v), want %s", host.URL(), err, url)
	}
}
