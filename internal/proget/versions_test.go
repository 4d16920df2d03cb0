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

// paths lists the paths an instance was asked for.
func paths(in *progetsim.Instance) string {
	var out []string
	for _, r := range in.Requests() {
		out = append(out, r.URL)
	}
	return strings.Join(out, " ")
}

// TestEarly2026ReadsHealthJSON: a 2026 build from before ?format=json existed
// answers the query in plain text; its JSON is read at /health/json before
// anything is judged.
func TestEarly2026ReadsHealthJSON(t *testing.T) {
	client := proget.New(2 * time.Second)
	t.Run("healthy", func(t *testing.T) {
		in := start(t, progetsim.V2026Early)
		o := client.Check(context.Background(), target(in.URL(), ""))
		if !o.HealthRead || o.Release != "26.0.0" || len(o.Health) != 3 || o.HTTPStatus != 200 {
			t.Errorf("health read %v, release %q, %d readings, HTTP %d: want the JSON of /health/json", o.HealthRead, o.Release, len(o.Health), o.HTTPStatus)
		}
		if got := paths(in); got != "/health?format=json /health/json" {
			t.Errorf("requests: %s", got)
		}
	})
	t.Run("unhealthy: a plain 500, then the JSON", func(t *testing.T) {
		in := start(t, progetsim.V2026Early)
		in.SetDatabaseError("Cannot open database \"ProGet\".")
		o := client.Check(context.Background(), target(in.URL(), ""))
		if got := summarize(o); got != "instance=OK database=Error license=OK service=OK connector-health=NotConfigured" {
			t.Errorf("got %s", got)
		}
		if d := o.Health[0].Detail; d != `Cannot open database "ProGet".` || o.HTTPStatus != 500 {
			t.Errorf("detail %q, HTTP %d", d, o.HTTPStatus)
		}
	})
	t.Run("a current 2026 asks once", func(t *testing.T) {
		in := start(t, progetsim.V2026)
		client.Check(context.Background(), target(in.URL(), ""))
		if got := paths(in); got != "/health?format=json" {
			t.Errorf("requests: %s", got)
		}
	})
	// Without /health/json, the plain answer is judged as it is.
	plain := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"plain OK, no /health/json", plain(200, "OK"), "instance=OK connector-health=NotConfigured"},
		{"plain 500, no /health/json", plain(500, "Database: unreachable\n   at X.Y()"), `Down: /health answered HTTP 500 Internal Server Error: "Database: unreachable"`},
		{"plain OK, /health/json not JSON", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health/json" {
				fmt.Fprint(w, "<html><title>ProGet</title></html>")
				return
			}
			fmt.Fprint(w, "OK")
		}, "instance=OK connector-health=NotConfigured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			o := client.Check(context.Background(), target(srv.URL, ""))
			if got := summarize(o); got != tc.want || o.HealthRead {
				t.Errorf("got  %s (health read %v)\nwant %s", got, o.HealthRead, tc.want)
			}
		})
	}
}

// TestOtherProductsAreTheWrongTarget: BuildMaster and Otter serve the same
// /health shape under their own applicationName.
func TestOtherProductsAreTheWrongTarget(t *testing.T) {
	client := proget.New(2 * time.Second)
	for _, tc := range []struct {
		product, instance, want string
	}{
		{progetsim.ProductBuildMaster, "build-01", `/health answered for BuildMaster (instance "build-01"), not ProGet: the url points at another Inedo product (check ` + targetKey + `/url)`},
		{progetsim.ProductOtter, "", `/health answered for Otter, not ProGet: the url points at another Inedo product (check ` + targetKey + `/url)`},
	} {
		in := start(t, progetsim.V2023)
		in.SetProduct(tc.product, tc.instance)
		in.SetDatabaseError("an Otter database problem is not ProGet's")
		o := client.Check(context.Background(), target(in.URL(), key))
		if o.Instance.Status != monitor.StatusWrongProduct || o.Instance.Detail != tc.want || o.HealthRead || o.Up() {
			t.Errorf("%s: %+v health read %v\nwant %s", tc.product, o.Instance, o.HealthRead, tc.want)
		}
		if rs := o.Readings(); len(rs) != 1 {
			t.Errorf("%s: only the instance is reported, got %v", tc.product, rs)
		}
	}
}

// TestUnrecognisedStatusIsAProblem: a core status that is not OK is a
// problem even when this monitor does not know the word.
func TestUnrecognisedStatusIsAProblem(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"applicationName":"ProGet","databaseStatus":"OK","licenseStatus":"Warning","licenseStatusDetail":"The license expires in 5 days.","serviceStatus":"OK","replicationStatus":{"serverStatus":7}}`)
	}))
	defer srv.Close()
	o := proget.New(2*time.Second).Check(context.Background(), target(srv.URL, ""))
	want := []monitor.Reading{
		{Component: monitor.ComponentDatabase, Status: monitor.StatusOK},
		{Component: monitor.ComponentLicense, Status: monitor.StatusError, Detail: `unrecognised status "Warning": The license expires in 5 days.`},
		{Component: monitor.ComponentService, Status: monitor.StatusOK},
		{Component: monitor.ComponentReplicationServer, Status: monitor.StatusError, Detail: "unrecognised status 7"},
	}
	if fmt.Sprint(o.Health) != fmt.Sprint(want) || o.Healthy() || o.Health[1].Status.Class() != monitor.ClassCritical {
		t.Errorf("got  %v\nwant %v", o.Health, want)
	}
}
