package proget

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// certificate records the leaf certificate that /health was served with:
// its expiry always, and a reading when the warning is on. A certificate
// that failed verification as expired is seen too (the instance is Down
// then, and the reading would not be looked at).
func (f *fetcher) certificate(leaf *x509.Certificate, err error, obs *monitor.Observation) {
	var invalid x509.CertificateInvalidError
	if leaf == nil && errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil && !invalid.Cert.IsCA {
		obs.CertificateExpires = invalid.Cert.NotAfter
		return
	}
	if leaf == nil {
		return
	}
	obs.CertificateExpires = leaf.NotAfter
	if days := f.client.certWarning; days > 0 {
		r := certificateReading(leaf, f.client.now(), days, f.red)
		obs.Certificate = &r
	}
}

// certificateReading is OK while more than days remain, Expiring within them.
func certificateReading(leaf *x509.Certificate, now time.Time, days int, red redactor) monitor.Reading {
	left := leaf.NotAfter.Sub(now)
	r := monitor.Reading{Component: monitor.ComponentCertificate, Status: monitor.StatusOK}
	when := "expires " + leaf.NotAfter.UTC().Format(time.DateOnly) + " (" + daysLeft(left) + ")"
	if left <= 0 {
		when = "expired on " + leaf.NotAfter.UTC().Format(time.DateOnly)
	}
	r.Detail = when
	if name := subjectName(leaf, red); name != "" {
		r.Detail += ", " + name
	}
	if left <= time.Duration(days)*24*time.Hour {
		r.Status = monitor.StatusExpiring
		r.Detail += "; once expired, the instance reads DOWN"
	}
	return r
}

// daysLeft counts whole days, as the run's log and metrics do.
func daysLeft(left time.Duration) string {
	switch d := int(left.Hours() / 24); d {
	case 0:
		return "less than a day left"
	case 1:
		return "1 day left"
	default:
		return fmt.Sprintf("%d days left", d)
	}
}

// subjectName names a certificate: CN=<common name>, or its first DNS name.
func subjectName(c *x509.Certificate, red redactor) string {
	switch {
	case c.Subject.CommonName != "":
		return "CN=" + clean(red.string(c.Subject.CommonName), 100)
	case len(c.DNSNames) > 0:
		return "DNS=" + clean(red.string(c.DNSNames[0]), 100)
	}
	return ""
}

// expiredText is the reason of a certificate that failed verification for
// its dates, with the date that failed it when the error carries the
// certificate.
func expiredText(c *x509.Certificate, red redactor) string {
	if c == nil {
		return "TLS: the certificate has expired or is not yet valid"
	}
	// Verification ran on the real clock, so the real clock tells which bound failed.
	now := time.Now()
	whose := "the certificate"
	if c.IsCA {
		whose = "a certificate of its chain"
		if name := subjectName(c, red); name != "" {
			whose += " (" + name + ")"
		}
	}
	if now.Before(c.NotBefore) {
		return fmt.Sprintf("TLS: %s is not valid before %s (check the server's clock, or the certificate)", whose, c.NotBefore.UTC().Format(time.DateOnly))
	}
	return fmt.Sprintf("TLS: %s expired on %s (renew it)", whose, c.NotAfter.UTC().Format(time.DateOnly))
}
