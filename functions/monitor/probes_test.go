package main

import (
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/render"
)

// On ProGet 2024 and later, a connector failing shows only through a feed:
// the probe asking for a package through it fails, once, and recovers, once.
func TestProbeSeesAConnectorFailOnProGet2024(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		in := w.proget["prod-eu"]
		in.SetAPIKey(apiKey)
		in.AddFeed(progetsim.Feed{Name: "npm-remote", Type: progetsim.NpmFeed, Connector: "npmjs.org", Packages: []string{"left-pad"}})
		in.AddFeed(progetsim.Feed{Name: "internal", Type: progetsim.NpmFeed, Connector: "", Packages: []string{"@corp/ui"}, Private: true})
		w.putParam(w.path+"prod-eu/api-key", apiKey, true)
		w.putParam(w.path+"prod-eu/probes", "npm-left-pad /npm/npm-remote/left-pad\nprivate-feed /npm/internal/@corp/ui key\n", false)
		expectSubjects(t, "probes healthy: silent", w.mustRun())

		in.SetUpstreamDown("npm-remote", 404)
		got := w.mustRun()
		expectSubjects(t, "the connector fails", got, "ProGet prod-eu: probe npm-left-pad Error")
		if len(got) == 1 && (got[0].Attributes[render.AttrSeverity] != "critical" || !strings.Contains(got[0].Message, "HTTP 404 from /npm/npm-remote/left-pad")) {
			t.Errorf("the alert must be critical and say what the probe got:\n%s", got[0].Message)
		}
		expectSubjects(t, "still failing: nothing new", w.mustRun())
		in.SetUpstreamDown("npm-remote", 0)
		expectSubjects(t, "the connector is back", w.mustRun(), "ProGet prod-eu: recovered")

		// The key goes with the probes that ask for it, and only them.
		for _, r := range in.Requests() {
			withKey := r.Header.Get("X-ApiKey") != ""
			switch {
			case strings.HasPrefix(r.URL, "/npm/internal/") && !withKey:
				t.Errorf("the key probe was sent without the key: %s", r.URL)
			case strings.HasPrefix(r.URL, "/npm/npm-remote/") && withKey:
				t.Errorf("a probe that does not ask for the key sent it: %s", r.URL)
			case strings.HasPrefix(r.URL, "/health") && withKey:
				t.Errorf("/health was sent the key")
			}
		}

		w.putParam(w.path+"prod-eu/probes", "private-feed /npm/internal/@corp/ui key\n", false)
		w.changed(w.path + "prod-eu/probes")
		in.SetUpstreamDown("npm-remote", 502)
		expectSubjects(t, "a probe removed is forgotten quietly", w.mustRun())
	})
}

// A certificate close to expiry is one warning; renewed, one resolved
// message.
func TestCertificateExpiryWarning(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		// Certificates are verified against the real time: the run's clock
		// starts from it.
		w.clock = time.Now().UTC().Truncate(time.Minute)
		w.app.runner.Checker = proget.New(2*time.Second, proget.WithCertificateWarning(14), proget.WithClock(func() time.Time { return w.clock }))
		in := progetsim.New(progetsim.V2026)
		if err := in.SetCertificate("proget.corp.example", w.clock.Add(60*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := in.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.Stop)
		if !strings.HasPrefix(in.URL(), "https://") {
			t.Fatalf("the instance is not on https: %s", in.URL())
		}
		w.putParam(w.path+"secure-eu/url", in.URL(), false)
		w.putParam(w.path+"secure-eu/ca-bundle", in.CAPEM(), false)
		expectSubjects(t, "60 days left: silent", w.mustRun())

		if err := in.SetCertificate("proget.corp.example", w.clock.Add(5*24*time.Hour+2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got := w.mustRun()
		expectSubjects(t, "5 days left", got, "ProGet secure-eu: TLS certificate expiring soon")
		if len(got) == 1 && (got[0].Attributes[render.AttrSeverity] != "warning" || !strings.Contains(got[0].Message, "(5 days left), CN=proget.corp.example")) {
			t.Errorf("the warning must say when and which certificate:\n%s", got[0].Message)
		}
		expectSubjects(t, "still expiring: nothing new", w.mustRun())
		if err := in.SetCertificate("proget.corp.example", w.clock.Add(90*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got = w.mustRun()
		expectSubjects(t, "renewed", got, "ProGet secure-eu: recovered")
		if len(got) == 1 && got[0].Attributes[render.AttrSeverity] != "resolved" {
			t.Errorf("renewed: severity %s", got[0].Attributes[render.AttrSeverity])
		}
	})
}
