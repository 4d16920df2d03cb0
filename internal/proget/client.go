package proget

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

const (
	// healthPath asks for JSON in a way every generation answers: 2023 and
	// 2024-2025 ignore the query, 2026+ serves plain text at /health without it.
	healthPath     = "/health?format=json"
	connectorsPath = "/api/connector-health/"
	apiKeyHeader   = "X-ApiKey"
	maxRedirects   = 5

	// DefaultMaxHealthBytes and DefaultMaxConnectorBytes cap what is read of a
	// body: a health document is a few hundred bytes, a connector list a few
	// hundred per connector.
	DefaultMaxHealthBytes    = 1 << 20
	DefaultMaxConnectorBytes = 8 << 20
)

// Client checks ProGet instances over HTTP. It is safe for concurrent use and
// reuses connections per instance across checks.
type Client struct {
	http              *http.Client
	withCA            sync.Map // PEM bundle -> *http.Client trusting it, shared by its instances
	timeout           time.Duration
	maxHealthBytes    int64
	maxConnectorBytes int64
}

// Option configures a Client.
type Option func(*Client)

// WithMaxConnsPerHost bounds connections to one instance and sizes the idle pool.
func WithMaxConnsPerHost(n int) Option {
	return func(c *Client) {
		t := c.http.Transport.(*http.Transport)
		t.MaxConnsPerHost, t.MaxIdleConnsPerHost = n, n
	}
}

// New returns a client whose every request is bounded by timeout.
func New(timeout time.Duration, opts ...Option) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	// Connections are reused per instance, but a large fleet must not hold
	// thousands of idle connections (and their buffers) in a 128 MB function.
	tr.MaxIdleConns = 128
	tr.MaxIdleConnsPerHost = 2
	tr.ReadBufferSize, tr.WriteBufferSize = 8<<10, 2<<10
	tr.ResponseHeaderTimeout = timeout
	c := &Client{
		http:              &http.Client{Transport: tr, CheckRedirect: checkRedirect},
		timeout:           timeout,
		maxHealthBytes:    DefaultMaxHealthBytes,
		maxConnectorBytes: DefaultMaxConnectorBytes,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// checkRedirect follows a few redirects, and never carries the API key to an
// origin other than the one configured: Go forwards custom headers on a
// redirect, even to another host.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if origin(req.URL) != origin(via[0].URL) {
		req.Header.Del(apiKeyHeader)
	}
	return nil
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// Check reads both endpoints of one instance, concurrently, and returns what it
// saw. It never fails: every problem ends as a status with a reason.
func (c *Client) Check(ctx context.Context, t monitor.Target) monitor.Observation {
	obs := monitor.Observation{Target: t}
	var conn connectorsResult
	var wg sync.WaitGroup
	if !t.APIKey.IsZero() {
		wg.Go(func() { conn = c.connectors(ctx, t) })
	} else {
		conn = connectorsResult{state: monitor.Reading{Status: monitor.StatusNotConfigured,
			Detail: "no API key at " + t.APIKeyParameter()}, read: true}
	}
	c.health(ctx, t, &obs)
	wg.Wait()
	obs.Connectors = conn.state
	obs.Connectors.Component = monitor.ComponentConnectorHealth
	obs.ConnectorsRead = conn.read
	for _, k := range conn.list {
		obs.ConnectorList = append(obs.ConnectorList, monitor.Reading{
			Component: monitor.ConnectorPrefix + k.Name, Status: k.Status, Detail: k.Detail})
	}
	redact(&obs, t.APIKey)
	return obs
}

// redact removes the API key from every text that came from the instance: a
// server that echoes the key in an error message must not put it in an alert.
func redact(o *monitor.Observation, key monitor.Secret) {
	if key.IsZero() {
		return
	}
	r := strings.NewReplacer(key.Reveal(), "[redacted]")
	o.Reason = r.Replace(o.Reason)
	o.Release = r.Replace(o.Release)
	for i := range o.Extensions {
		o.Extensions[i] = r.Replace(o.Extensions[i])
	}
	o.Connectors.Detail = r.Replace(o.Connectors.Detail)
	for _, list := range [][]monitor.Reading{o.Health, o.ConnectorList} {
		for i := range list {
			list[i].Component = r.Replace(list[i].Component)
			list[i].Detail = r.Replace(list[i].Detail)
		}
	}
}

// response is one bounded GET.
type response struct {
	status  int
	body    []byte
	final   *url.URL // where redirects ended
	elapsed time.Duration
}

// clientFor returns the HTTP client for a target: the shared one, or one that
// also trusts the target's CA bundle. Verification is never switched off.
func (c *Client) clientFor(t monitor.Target) *http.Client {
	if t.CABundle == "" {
		return c.http
	}
	if hc, ok := c.withCA.Load(t.CABundle); ok {
		return hc.(*http.Client)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if base := c.http.Transport.(*http.Transport).TLSClientConfig.RootCAs; base != nil {
		pool = base.Clone()
	}
	pool.AppendCertsFromPEM([]byte(t.CABundle))
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	hc, _ := c.withCA.LoadOrStore(t.CABundle, &http.Client{Transport: tr, CheckRedirect: checkRedirect})
	return hc.(*http.Client)
}

func (c *Client) get(ctx context.Context, client *http.Client, rawURL string, key monitor.Secret, limit int64) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "proget-monitor")
	if !key.IsZero() {
		req.Header.Set(apiKeyHeader, key.Reveal())
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	r := response{status: resp.StatusCode, body: body, final: resp.Request.URL, elapsed: time.Since(start)}
	if err != nil {
		return r, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > limit {
		return r, errTooLarge{limit}
	}
	return r, nil
}

type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string { return fmt.Sprintf("the body is larger than %d bytes", e.limit) }

func (c *Client) health(ctx context.Context, t monitor.Target, obs *monitor.Observation) {
	r, err := c.get(ctx, c.clientFor(t), t.URL+healthPath, monitor.Secret{}, c.maxHealthBytes)
	obs.HTTPStatus, obs.ResponseTime = r.status, r.elapsed
	if err != nil {
		if r.status == 0 {
			obs.NetworkFailure = true
			obs.Reason = "/health: " + c.describeError(err, t)
		} else {
			obs.Reason = fmt.Sprintf("/health answered HTTP %d but %s", r.status, c.describeError(err, t))
		}
		return
	}
	if r.status != http.StatusOK && r.status != http.StatusInternalServerError {
		obs.Reason = "/health answered " + statusText(r)
		return
	}
	if r.status == http.StatusOK && strings.EqualFold(strings.TrimSpace(string(r.body)), "OK") {
		// ProGet 2026+ plain text: up, but nothing per component.
		obs.Up = true
		return
	}
	info, err := parseHealth(r.body)
	if err != nil {
		if r.status == http.StatusInternalServerError {
			obs.Reason = "/health answered " + statusText(r)
		} else {
			obs.Reason = "/health answered HTTP 200 but " + err.Error()
		}
		return
	}
	obs.Up, obs.HealthRead, obs.Health, obs.Release, obs.Extensions = true, true, info.Readings, info.Release, info.Extensions
}

type connectorsResult struct {
	state monitor.Reading
	read  bool
	list  []connector
}

func (c *Client) connectors(ctx context.Context, t monitor.Target) connectorsResult {
	r, err := c.get(ctx, c.clientFor(t), t.URL+connectorsPath, t.APIKey, c.maxConnectorBytes)
	bad := func(detail string) connectorsResult {
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusError, Detail: "connector-health " + detail}}
	}
	switch {
	case err != nil && r.status == 0:
		return bad(c.describeError(err, t))
	case err != nil:
		return bad(fmt.Sprintf("answered HTTP %d but %s", r.status, c.describeError(err, t)))
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		detail := fmt.Sprintf("the API key was rejected (HTTP %d): check %s and that its user may View Connector Health", r.status, t.APIKeyParameter())
		if r.final != nil && !strings.HasPrefix(r.final.String(), t.URL) {
			detail = fmt.Sprintf("the request was redirected to %s and the API key is never sent to another origin (HTTP %d): set the url to where ProGet answers", origin(r.final), r.status)
		}
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusRejected, Detail: detail}}
	case r.status == http.StatusNotFound:
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusUnsupported,
			Detail: "this ProGet has no connector-health API (removed in ProGet 2024)"}, read: true}
	case r.status != http.StatusOK:
		return bad("answered " + statusText(r))
	}
	list, err := parseConnectors(r.body)
	if err != nil {
		return bad("answered HTTP 200 but " + err.Error())
	}
	res := connectorsResult{state: monitor.Reading{Status: monitor.StatusOK}, read: true, list: list}
	if len(list) > MaxConnectors {
		res.list = keepConnectors(list)
		res.state.Detail = fmt.Sprintf("%d connectors; %d are tracked, those with problems first", len(list), MaxConnectors)
	}
	return res
}

// MaxConnectors bounds the connectors tracked per instance: each is a component
// in the instance's stored state (a DynamoDB item holds 400 KB at most) and a
// metric series.
const MaxConnectors = 500

// keepConnectors keeps MaxConnectors of a longer list: every connector with a
// problem first, so that none goes unreported, then healthy ones in ProGet's order.
func keepConnectors(list []connector) []connector {
	kept := make([]connector, 0, MaxConnectors)
	for _, problems := range []bool{true, false} {
		for _, c := range list {
			if len(kept) < MaxConnectors && (c.Status != monitor.StatusOK) == problems {
				kept = append(kept, c)
			}
		}
	}
	return kept
}

// statusText is "HTTP 503 Service Unavailable" plus a short idea of the body.
func statusText(r response) string {
	s := fmt.Sprintf("HTTP %d", r.status)
	if t := http.StatusText(r.status); t != "" {
		s += " " + t
	}
	if len(strings.TrimSpace(string(r.body))) > 0 {
		s += ": " + describeBody(r.body)
	}
	return s
}

// describeError turns a transport error into a short reason a person can act on.
func (c *Client) describeError(err error, t monitor.Target) string {
	var (
		dnsErr   *net.DNSError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		record   tls.RecordHeaderError
		tooLarge errTooLarge
		netErr   net.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		return tooLarge.Error()
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("DNS lookup of %s failed", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %s", c.timeout)
	case errors.Is(err, context.Canceled):
		return "the check was cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "server closed idle connection"): // net/http's word for a hang-up before any answer
		return "the connection was closed before a full answer"
	case errors.As(err, &unknown):
		return fmt.Sprintf("TLS: the certificate is signed by an unknown authority (trust it with %s/ca-bundle)", t.Key)
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "TLS: the certificate has expired or is not yet valid"
		}
		return "TLS: the certificate is not valid: " + clean(invalid.Error(), 120)
	case errors.As(err, &hostname):
		return fmt.Sprintf("TLS: the certificate is not valid for %s", hostname.Host)
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS: the server did not answer with TLS (is the url's scheme right?)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is already known to the reader
	}
	return clean(err.Error(), 200)
}
