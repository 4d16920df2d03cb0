package proget_test

import (
	"context"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// tlsInstance is a simulated instance on HTTPS whose certificate expires
// at notAfter, and a target that trusts its CA.
func tlsInstance(t *testing.T, notAfter time.Time) (*progetsim.Instance, monitor.Target) {
	t.Helper()
	in := progetsim.New(progetsim.V2026)
	if err := in.SetCertificate("proget.corp.example", notAfter); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	tg := target(in.URL(), "")
	tg.CABundle = in.CAPEM()
	return in, tg
}

// TestCertificateExpiry: the certificate /health was served with, read
// against the warning days, on the check's own clock.
func TestCertificateExpiry(t *testing.T) {
	now := time.Now()
	clock := proget.WithClock(func() time.Time { return now })
	// An hour more than whole days, so that the count does not depend on the test's speed.
	in30 := now.Add(30*24*time.Hour + time.Hour).Truncate(time.Second)
	in5 := now.Add(5*24*time.Hour + time.Hour).Truncate(time.Second)
	date := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	for _, tc := range []struct {
		name     string
		notAfter time.Time
		warning  int
		want     *monitor.Reading
	}{
		{"30 days left", in30, 14, &monitor.Reading{Component: "certificate", Status: monitor.StatusOK,
			Detail: "expires " + date(in30) + " (30 days left), CN=proget.corp.example"}},
		{"5 days left, warned 14 days ahead", in5, 14, &monitor.Reading{Component: "certificate", Status: monitor.StatusExpiring,
			Detail: "expires " + date(in5) + " (5 days left), CN=proget.corp.example; once expired, the instance reads DOWN"}},
		{"5 days left, warned 5 days ahead", in5, 5, &monitor.Reading{Component: "certificate", Status: monitor.StatusOK,
			Detail: "expires " + date(in5) + " (5 days left), CN=proget.corp.example"}},
		{"warning off", in5, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, tg := tlsInstance(t, tc.notAfter)
			o := proget.New(2*time.Second, clock, proget.WithCertificateWarning(tc.warning)).Check(context.Background(), tg)
			if !o.Up() || !o.CertificateExpires.Equal(tc.notAfter) {
				t.Errorf("instance %+v, certificate expires %v, want %v", o.Instance, o.CertificateExpires, tc.notAfter)
			}
			switch {
			case tc.want == nil && o.Certificate != nil:
				t.Errorf("got a reading with the warning off: %+v", *o.Certificate)
			case tc.want != nil && (o.Certificate == nil || *o.Certificate != *tc.want):
				t.Errorf("got  %+v\nwant %+v", o.Certificate, *tc.want)
			}
			if tc.want != nil && o.Readings()[len(o.Health)+1] != *tc.want {
				t.Errorf("the certificate is not among the readings: %v", o.Readings())
			}
		})
	}
}

// TestCertificateExpired: an expired certificate makes the instance Down,
// with its date; plain HTTP has no certificate to read.
func TestCertificateExpired(t *testing.T) {
	expired := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Second)
	_, tg := tlsInstance(t, expired)
	o := proget.New(2*time.Second, proget.WithCertificateWarning(14)).Check(context.Background(), tg)
	want := "Down: /health: TLS: the certificate expired on " + expired.UTC().Format(time.DateOnly) + " (renew it)"
	if got := summarize(o); got != want || !o.NetworkFailure {
		t.Errorf("got  %s (network failure %v)\nwant %s", got, o.NetworkFailure, want)
	}
	if !o.CertificateExpires.Equal(expired) || o.Certificate != nil {
		t.Errorf("certificate expires %v (want %v), reading %+v", o.CertificateExpires, expired, o.Certificate)
	}

	plain := start(t, progetsim.V2026)
	o = proget.New(2*time.Second, proget.WithCertificateWarning(14)).Check(context.Background(), target(plain.URL(), ""))
	if !o.Up() || o.Certificate != nil || !o.CertificateExpires.IsZero() {
		t.Errorf("plain HTTP: %+v, certificate %+v, expires %v", o.Instance, o.Certificate, o.CertificateExpires)
	}
}
