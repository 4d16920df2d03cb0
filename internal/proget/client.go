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
	healthPath = "/health?format=json"
	// healthJSONPath is where ProGet 2026 first served its JSON: early 2026
	// builds answer the query in plain text.
	healthJSONPath = "/health/json"
	connectorsPath = "/api/connector-health/"
	apiKeyHeader   = "X-ApiKey"

	// maxHealthBytes and maxConnectorBytes cap what is read of a body: a
	// health document is a few hundred bytes, a connector list a few hundred
	// per connector.
	maxHealthBytes    = 1 << 20
	maxConnectorBytes = 8 << 20
	// defaultMaxProbeBytes caps what is read of a probe's answer: a packument
	// can be megabytes, and what comes first is enough to judge it.
	defaultMaxProbeBytes = 4 << 20
)

// Client checks ProGet instances over HTTP. It is safe for concurrent use and
// reuses connections across checks.
type Client struct {
	transport     *http.Transport
	withCA        sync.Map // PEM bundle -> *http.Transport trusting it, shared by its instances
	timeout       time.Duration
	maxProbeBytes int64
	runtime       runtimeAPI
	resolver      *net.Resolver
	certWarning   int // days; 0: no certificate reading
	now           func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithRuntimeAPI names the Lambda Runtime API's address (host:port, as in
// AWS_LAMBDA_RUNTIME_API): no instance can make the monitor connect to it,
// whether by a redirect or by a DNS name, unless the instance's own url is it.
// An address that is neither IP:port nor localhost:port is ignored; loopback
// addresses are refused to other instances in any case.
func WithRuntimeAPI(addr string) Option {
	return func(c *Client) { c.runtime = parseRuntimeAPI(addr) }
}

// WithResolver resolves instance host names with r instead of the system's
// resolver: a split-horizon DNS server, or a fixed answer in tests. What a
// name resolves to is checked as any address is.
func WithResolver(r *net.Resolver) Option {
	return func(c *Client) { c.resolver = r }
}

// WithCertificateWarning reads an https instance's certificate as the
// "certificate" component: OK while more than days remain before it
// expires, Expiring within them. 0 (the default) reads no such component;
// Observation.CertificateExpires is filled either way.
func WithCertificateWarning(days int) Option {
	return func(c *Client) { c.certWarning = max(days, 0) }
}

// WithClock sets the clock that a certificate's days left are counted from
// (default time.Now). TLS verification always uses the real time.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// New returns a client that gives each request of a check at most timeout:
// /health, connector-health and the probes are read concurrently.
// A probe waits for a turn when the instance already has probesAtOnce
// running, then has timeout of its own, so a check with n probes takes at
// most about ceil(n/probesAtOnce) times timeout.
func New(timeout time.Duration, opts ...Option) *Client {
	c := &Client{
		timeout:       timeout,
		maxProbeBytes: defaultMaxProbeBytes,
		now:           time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: c.resolver, ControlContext: c.control}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           noteExhaustion(dialer.DialContext),
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: newSessionCache(c.now, sessionMaxAge)},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		// No limit of connections per host: several instances may live behind
		// one host (https://corp.example/proget-a, /proget-b), and a request
		// waiting for another instance's connection would count against its
		// timeout. Each check makes one request at a time, plus its probes
		// (probesAtOnce).
		MaxConnsPerHost: 0,
		// Instances are checked once a run: an idle connection serves the
		// rest of its own check (probes after /health) and nothing else, and
		// every one kept is an open file the run cannot use (Lambda allows
		// 1024) and memory in a 128 MB function.
		MaxIdleConns:        idleConns,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ReadBufferSize:      8 << 10,
		WriteBufferSize:     2 << 10,
	}
	c.transport = tr
	return c
}

// Check reads both endpoints of one instance, /health then connector-health
// on one connection (one dial, one TLS handshake, one open file per
// instance: at a thousand instances, sockets and CPU are what a run is short
// of), runs its probes meanwhile, and returns what it saw. It never fails:
// every problem ends as a status with a reason. Probes are reported whatever
// /health answered.
func (c *Client) Check(ctx context.Context, t monitor.Target) (obs monitor.Observation) {
	// obs is named so that the deferred mark reaches the caller.
	obs = monitor.Observation{Target: t,
		Connectors: monitor.Reading{Component: monitor.ComponentConnectorHealth}}
	ctx, exhausted := watchExhaustion(ctx)
	defer func() {
		if exhausted.Load() {
			obs.NotChecked = "the function ran out of open files (Lambda allows 1024): lower MAX_CONCURRENCY"
		}
	}()
	red := newRedactor(t.APIKey)
	base, err := url.Parse(t.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		obs.Instance = monitor.Reading{Component: monitor.ComponentInstance, Status: monitor.StatusDown,
			Detail: fmt.Sprintf("the url is not an http or https URL: check %s/url", t.Key)}
		return obs
	}
	f := &fetcher{client: c, rt: c.transportFor(t), target: t, base: base,
		policy: policyFor(base.Hostname(), portOf(base)), red: red}
	var conn connectorsResult
	var wg sync.WaitGroup
	if len(t.Probes) > 0 {
		wg.Go(func() { obs.Probes = f.probes(ctx, t.Probes) })
	}
	f.health(ctx, &obs)
	if !t.APIKey.IsZero() {
		conn = f.connectors(ctx)
	} else {
		conn = connectorsResult{state: monitor.Reading{Status: monitor.StatusNotConfigured,
			Detail: "no API key at " + t.APIKeyParameter()}, read: true}
	}
	wg.Wait()
	obs.Connectors = conn.state
	obs.Connectors.Component = monitor.ComponentConnectorHealth
	obs.ConnectorsRead = conn.read
	if len(conn.list) > 0 {
		obs.ConnectorList = make([]monitor.Reading, 0, len(conn.list))
	}
	for _, k := range conn.list {
		obs.ConnectorList = append(obs.ConnectorList, monitor.Reading{
			Component: monitor.ConnectorPrefix + k.Name, Status: k.Status, Detail: k.Detail})
	}
	red.observation(&obs)
	return obs
}

// transportFor returns the transport for a target: the shared one, or one
// that also trusts the target's CA bundle. Verification is never switched off.
// CloseIdleConnections closes the connections the checks left idle: each
// instance is checked once a run, so they serve nothing but file
// descriptors until the next one, and a run that starts from fresh
// connections reads the certificate each instance serves now.
func (c *Client) CloseIdleConnections() {
	c.transport.CloseIdleConnections()
	c.withCA.Range(func(_, tr any) bool {
		tr.(*http.Transport).CloseIdleConnections()
		return true
	})
}

func (c *Client) transportFor(t monitor.Target) *http.Transport {
	if t.CABundle == "" {
		return c.transport
	}
	if tr, ok := c.withCA.Load(t.CABundle); ok {
		return tr.(*http.Transport)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM([]byte(t.CABundle))
	tr := c.transport.Clone()
	tr.TLSClientConfig.RootCAs = pool
	stored, _ := c.withCA.LoadOrStore(t.CABundle, tr)
	return stored.(*http.Transport)
}

// health reads /health into the observation's instance reading and health.
func (f *fetcher) health(ctx context.Context, obs *monitor.Observation) {
	deadline := time.Now().Add(f.client.timeout)
	a, err := f.get(ctx, deadline, healthPath, false, maxHealthBytes)
	f.certificate(a.cert, err, obs)
	if err == nil && a.unfollowed == nil && plainText(a) {
		// An early ProGet 2026 build answers the query in plain text and serves
		// its JSON only at /health/json: read that before judging. If it is not
		// there (404, not JSON), the plain answer is all there is.
		// Its status and response time are then the observation's.
		j, err := f.get(ctx, deadline, healthJSONPath, false, maxHealthBytes)
		if err == nil && j.unfollowed == nil && (j.status == http.StatusOK || j.status == http.StatusInternalServerError) {
			var wrong errWrongProduct
			if _, perr := parseHealth(j.body, f.red); perr == nil || errors.As(perr, &wrong) {
				a = j
			}
		}
	}
	f.judgeHealth(a, err, obs)
}

// plainText is ProGet 2026's plain answer: 200 "OK", or a 500 whose body is
// not JSON.
func plainText(a answer) bool {
	switch a.status {
	case http.StatusOK:
		return strings.EqualFold(strings.TrimSpace(string(a.body)), "OK")
	case http.StatusInternalServerError:
		_, err := lenientJSON(a.body)
		return err != nil
	}
	return false
}

func (f *fetcher) judgeHealth(a answer, err error, obs *monitor.Observation) {
	t := f.target
	obs.HTTPStatus, obs.ResponseTime = a.status, a.elapsed
	set := func(s monitor.Status, detail string) {
		obs.Instance = monitor.Reading{Component: monitor.ComponentInstance, Status: s, Detail: detail}
	}
	what := label("/health", a)
	var loop errTooManyRedirects
	switch {
	case errors.As(err, &loop):
		set(monitor.StatusDown, fmt.Sprintf("/health was %s: a redirect loop? Check the server or proxy in front of ProGet, and %s/url", loop.Error(), t.Key))
	case err != nil && a.status == 0:
		obs.NetworkFailure, obs.Unreachable = true, unreachable(err)
		set(monitor.StatusDown, strings.TrimSuffix(what, ",")+": "+f.client.describeError(err, t, f.red))
	case err != nil:
		set(monitor.StatusDown, fmt.Sprintf("%s answered HTTP %d but %s", what, a.status, f.client.describeError(err, t, f.red)))
	case a.unfollowed != nil:
		set(monitor.StatusRedirected, redirected("/health", "without signing in", a, t))
	case a.status == http.StatusNotFound:
		set(monitor.StatusNoHealthAPI, fmt.Sprintf("%s answered 404: ProGet older than 5.2.9 has no health endpoint, or the url is not ProGet's root (check %s/url)", what, t.Key))
	case a.status != http.StatusOK && a.status != http.StatusInternalServerError:
		set(monitor.StatusDown, what+" answered "+statusText(a))
	case a.status == http.StatusOK && strings.EqualFold(strings.TrimSpace(string(a.body)), "OK"):
		// ProGet 2026+ plain text: up, but nothing per component.
		set(monitor.StatusOK, "")
	default:
		info, err := parseHealth(a.body, f.red)
		var wrong errWrongProduct
		switch {
		case errors.As(err, &wrong):
			product := wrong.name
			if wrong.instance != "" {
				product += " (instance " + quoted(wrong.instance, 60) + ")"
			}
			set(monitor.StatusWrongProduct, fmt.Sprintf("%s answered for %s, not ProGet: the url points at another Inedo product (check %s/url)", what, product, t.Key))
		case err != nil && a.status == http.StatusInternalServerError:
			set(monitor.StatusDown, what+" answered "+statusText(a))
		case err != nil:
			set(monitor.StatusDown, what+" answered HTTP 200 but "+err.Error())
		default:
			set(monitor.StatusOK, "")
			obs.HealthRead, obs.Health, obs.Release, obs.Extensions = true, info.Readings, info.Release, info.Extensions
		}
	}
}

type connectorsResult struct {
	state monitor.Reading
	read  bool
	list  []connector
}

func (f *fetcher) connectors(ctx context.Context) connectorsResult {
	t := f.target
	a, err := f.get(ctx, time.Now().Add(f.client.timeout), connectorsPath, true, maxConnectorBytes)
	what := label("connector-health", a)
	bad := func(detail string) connectorsResult {
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusError, Detail: detail}}
	}
	var loop errTooManyRedirects
	switch {
	case errors.As(err, &loop):
		return bad(fmt.Sprintf("connector-health was %s: a redirect loop? Check the server or proxy in front of ProGet, and %s/url", loop.Error(), t.Key))
	case err != nil && a.status == 0:
		return bad(strings.TrimSuffix(what, ",") + ": " + f.client.describeError(err, t, f.red))
	case err != nil:
		return bad(fmt.Sprintf("%s answered HTTP %d but %s", what, a.status, f.client.describeError(err, t, f.red)))
	case a.unfollowed != nil:
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusRedirected,
			Detail: redirected("connector-health", "with the API key alone", a, t)}}
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusRejected,
			Detail: fmt.Sprintf("the API key was rejected (HTTP %d): check %s and that its user may View Connector Health", a.status, t.APIKeyParameter())}}
	case a.status == http.StatusNotFound:
		return connectorsResult{state: monitor.Reading{Status: monitor.StatusUnsupported,
			Detail: "this ProGet has no connector-health API (removed in ProGet 2024)"}, read: true}
	case a.status != http.StatusOK:
		return bad(what + " answered " + statusText(a))
	}
	list, err := parseConnectors(a.body, f.red)
	if err != nil {
		return bad(what + " answered HTTP 200 but " + err.Error())
	}
	return connectorsResult{state: monitor.Reading{Status: monitor.StatusOK}, read: true, list: list}
}

// statusText is "HTTP 503 Service Unavailable" plus a short idea of the body.
func statusText(a answer) string {
	s := fmt.Sprintf("HTTP %d", a.status)
	if t := http.StatusText(a.status); t != "" {
		s += " " + t
	}
	if len(strings.TrimSpace(string(a.body))) > 0 {
		s += ": " + describeBody(a.body)
	}
	return s
}

// describeError turns a transport error into a short reason a person can act
// on. Text that came from the server (a malformed status line, a
// certificate's names) is scrubbed of the API key before it is cut.
// unreachable tells a failure to connect at all (the name does not resolve,
// nothing answers on its address) from one of a connection that was made.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	var op *net.OpError
	return errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.As(err, &op) && op.Op == "dial"
}

func (c *Client) describeError(err error, t monitor.Target, red redactor) string {
	var (
		dnsErr   *net.DNSError
		refused  errRefusedAddress
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
	case errors.As(err, &refused):
		host := ""
		if u, perr := url.Parse(t.URL); perr == nil {
			host = u.Hostname()
		}
		return fmt.Sprintf("%s resolves to %s, which the monitor never connects to (check %s/url and the DNS record)", host, refused.what+" ("+refused.addr.String()+")", t.Key)
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
			return expiredText(invalid.Cert, red)
		}
		return "TLS: the certificate is not valid: " + clean(red.string(invalid.Error()), 120)
	case errors.As(err, &hostname):
		return fmt.Sprintf("TLS: the certificate is not valid for %s", hostname.Host)
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS: the server did not answer with TLS (is the url's scheme right?)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is already known to the reader
	}
	return clean(red.string(err.Error()), 200)
}
