package proget

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// TestKeyOnlyToTheInstancesOrigin: where a probe's API key may follow a
// redirect, as connector-health's redirects may: the instance's own host,
// an upgrade to HTTPS, never back to plain HTTP.
func TestKeyOnlyToTheInstancesOrigin(t *testing.T) {
	for _, tc := range []struct {
		base, from, to string
		ok             bool
	}{
		{"https://proget.corp.example/proget", "", "https://proget.corp.example/proget/npm/x", true},
		{"https://proget.corp.example", "", "https://PROGET.corp.example.:443/npm/x", true},
		{"https://proget.corp.example", "", "https://proget.corp.example:8443/npm/x", false},
		{"https://proget.corp.example", "", "http://proget.corp.example/npm/x", false},
		{"http://proget.corp.example:8624", "", "https://proget.corp.example/npm/x", true},
		{"http://proget.corp.example:8624", "https://proget.corp.example/npm/x", "http://proget.corp.example:8624/npm/x", false},
		{"http://proget.corp.example:8624", "", "http://proget.corp.example:8625/npm/x", false},
		{"https://proget.corp.example", "", "https://cdn.corp.example/npm/x", false},
		{"https://proget.corp.example", "", "https://proget.corp.example.evil.example/npm/x", false},
	} {
		base, _ := url.Parse(tc.base)
		from, to := base, must(url.Parse(tc.to))
		if tc.from != "" {
			from = must(url.Parse(tc.from))
		}
		f := &fetcher{client: &Client{}, base: base}
		if why, _ := f.unfollowable(from, to); (why == "") != tc.ok {
			t.Errorf("%s from %s (instance %s): %q, want followable %v", tc.to, from, tc.base, why, tc.ok)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCertificateTexts(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	leaf := func(left time.Duration, cn string, dns ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns, NotAfter: now.Add(left)}
	}
	for _, tc := range []struct {
		cert *x509.Certificate
		want monitor.Reading
	}{
		{leaf(36*time.Hour, "proget"), monitor.Reading{Component: "certificate", Status: monitor.StatusExpiring,
			Detail: "expires 2026-11-29 (1 day left), CN=proget; once expired, the instance reads DOWN"}},
		{leaf(3*time.Hour, "", "proget.corp.example"), monitor.Reading{Component: "certificate", Status: monitor.StatusExpiring,
			Detail: "expires 2026-11-27 (less than a day left), DNS=proget.corp.example; once expired, the instance reads DOWN"}},
		{leaf(-time.Hour, ""), monitor.Reading{Component: "certificate", Status: monitor.StatusExpiring,
			Detail: "expired on 2026-11-27; once expired, the instance reads DOWN"}},
		{leaf(14*24*time.Hour, "p"), monitor.Reading{Component: "certificate", Status: monitor.StatusExpiring,
			Detail: "expires 2026-12-11 (14 days left), CN=p; once expired, the instance reads DOWN"}},
		{leaf(14*24*time.Hour+time.Second, "p"), monitor.Reading{Component: "certificate", Status: monitor.StatusOK,
			Detail: "expires 2026-12-11 (14 days left), CN=p"}},
	} {
		if got := certificateReading(tc.cert, now, 14, redactor{}); got != tc.want {
			t.Errorf("got  %+v\nwant %+v", got, tc.want)
		}
	}
	ca := &x509.Certificate{IsCA: true, Subject: pkix.Name{CommonName: "Corp Issuing CA"}, NotAfter: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)}
	if got, want := expiredText(ca, redactor{}), "TLS: a certificate of its chain (CN=Corp Issuing CA) expired on 2026-01-31 (renew it)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	early := &x509.Certificate{NotBefore: time.Now().Add(48 * time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	want := "TLS: the certificate is not valid before " + early.NotBefore.UTC().Format(time.DateOnly) + " (check the server's clock, or the certificate)"
	if got := expiredText(early, redactor{}); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
