package proget

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// maxRedirects is how many redirects one request follows.
const maxRedirects = 10

// fetcher reads one target's endpoints.
type fetcher struct {
	client *Client
	// rt is used directly, not through an http.Client: every redirect comes
	// back here, Location unparsed, to be judged.
	rt     http.RoundTripper
	target monitor.Target
	base   *url.URL
	policy policy
	red    redactor
}

// answer is one bounded GET, after the redirects it followed.
type answer struct {
	status int
	body   []byte   // scrubbed of the API key
	url    *url.URL // where the answer came from
	// redirected is true when url is not where the request started.
	redirected bool
	// elapsed runs from asking for the first connection (a new one's dial and
	// TLS included) to the end of the last body.
	elapsed time.Duration
	// unfollowed is a redirect that ended the request, and why it was not
	// followed ("another host, which the monitor does not follow").
	unfollowed *url.URL
	why        string
	refused    bool // the redirect led to an address the monitor never connects to
	// cert is the leaf certificate of the first TLS connection on the way:
	// the instance's own, as nothing beyond its host is followed.
	cert *x509.Certificate
}

type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string { return fmt.Sprintf("the body is larger than %d bytes", e.limit) }

type errTooManyRedirects struct{ last *url.URL }

func (e errTooManyRedirects) Error() string {
	return fmt.Sprintf("redirected more than %d times, last to %s", maxRedirects, showURL(e.last))
}

type errBadLocation struct{}

func (errBadLocation) Error() string { return "its Location header is not a URL" }

// get asks for path below the target's url, until the deadline, following
// redirects only within the instance's own host, and sending the API key when
// withKey. The body is read up to limit bytes.
func (f *fetcher) get(ctx context.Context, deadline time.Time, path string, withKey bool, limit int64) (a answer, err error) {
	var leaf *x509.Certificate
	defer func() { a.cert = leaf }()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ctx = context.WithValue(ctx, policyKey{}, f.policy)
	// Time runs from asking for a connection (a new one's dial and TLS
	// included) to the end of the body: nothing before it is the instance's doing.
	var mu sync.Mutex
	var start time.Time
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GetConn: func(string) {
		mu.Lock()
		defer mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
	}})
	called := time.Now()
	elapsed := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if start.IsZero() {
			return time.Since(called)
		}
		return time.Since(start)
	}

	u, err := url.Parse(f.target.URL + path)
	if err != nil {
		return answer{}, err
	}
	lastStatus := 0
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return answer{url: u, redirected: hop > 0}, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "proget-monitor")
		if withKey && !f.target.APIKey.IsZero() {
			// Only ever sent within the instance's own host: nothing else is followed.
			req.Header.Set(apiKeyHeader, f.target.APIKey.Reveal())
		}
		resp, err := f.rt.RoundTrip(req)
		if err != nil {
			var refused errRefusedAddress
			if hop > 0 && errors.As(err, &refused) {
				// The host's own name led, once resolved, where no instance may lead.
				return answer{status: lastStatus, url: u, redirected: true, elapsed: elapsed(), unfollowed: u,
					why: refused.what + ", which the monitor never connects to", refused: true}, nil
			}
			return answer{url: u, redirected: hop > 0}, err
		}
		if leaf == nil && resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			leaf = resp.TLS.PeerCertificates[0]
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
			resp.Body.Close()
			a := answer{status: resp.StatusCode, url: u, redirected: hop > 0, elapsed: elapsed()}
			switch {
			case err != nil:
				return a, fmt.Errorf("reading the body: %w", err)
			case int64(len(body)) > limit:
				return a, errTooLarge{limit}
			}
			a.body = f.red.bytes(body)
			return a, nil
		}
		// A redirect's body is read so that its connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		lastStatus = resp.StatusCode
		a := answer{status: resp.StatusCode, url: u, redirected: hop > 0, elapsed: elapsed()}
		to, err := u.Parse(f.red.string(loc))
		if err != nil || to.Host == "" {
			return a, errBadLocation{}
		}
		to.User, to.Fragment, to.RawFragment = nil, "", ""
		if hop == maxRedirects {
			return a, errTooManyRedirects{to}
		}
		if why, refused := f.unfollowable(u, to); why != "" {
			a.unfollowed, a.why, a.refused = to, why, refused
			return a, nil
		}
		u = to
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// unfollowable says why a redirect from one URL to another is not followed,
// or "". Only the instance's own host is followed: the same hostname, scheme
// and port, or an upgrade from HTTP to HTTPS on the same hostname (any port);
// never back to HTTP.
func (f *fetcher) unfollowable(from, to *url.URL) (why string, refused bool) {
	if what := f.client.refusal(to, f.policy); what != "" {
		return what + ", which the monitor never connects to", true
	}
	scheme, base := strings.ToLower(to.Scheme), strings.ToLower(f.base.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "not an HTTP address, which the monitor does not follow", false
	case !strings.EqualFold(strings.TrimSuffix(to.Hostname(), "."), strings.TrimSuffix(f.base.Hostname(), ".")):
		return "another host, which the monitor does not follow", false
	case strings.EqualFold(from.Scheme, "https") && scheme == "http":
		return "from HTTPS to plain HTTP, which the monitor does not follow", false
	case scheme == base && portOf(to) != portOf(f.base):
		return "another port, which the monitor does not follow", false
	}
	return "", false
}

// refusal names what a URL's host is when it is an IP address the target
// may not connect to (the dialer would refuse it), or returns "".
func (c *Client) refusal(u *url.URL, p policy) string {
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return "" // a name: the dialer checks what it resolves to
	}
	return c.forbidden(a, portOf(u), p)
}

func portOf(u *url.URL) uint16 {
	if p := u.Port(); p != "" {
		var n uint16
		fmt.Sscan(p, &n)
		return n
	}
	if strings.EqualFold(u.Scheme, "https") {
		return 443
	}
	return 80
}

// showURL is a URL as a reason shows it: scheme, host, port and path, never
// credentials or a query string, which may hold tokens.
func showURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return clean(strings.ToLower(u.Scheme)+"://"+strings.ToLower(u.Host)+u.EscapedPath(), 160)
}

// signIn spots a sign-in page by its host or path: an identity provider
// (login.microsoftonline.com, corp.okta.com, sso.corp.example) or a proxy's
// sign-in path (/oauth2/start, /.auth/login, /adfs/ls).
var signIn = regexp.MustCompile(`login|logon|log-in|signin|sign-in|sign_in|oauth|saml|adfs|openid|okta|keycloak|authorize|authenticat|auth0|(?:^|[^a-z0-9])(?:sso|auth|idp|cas|sts)(?:[^a-z0-9]|$)`)

func looksLikeSignIn(u *url.URL) bool {
	return signIn.MatchString(strings.ToLower(u.Hostname() + " " + u.Path))
}

// label names an endpoint in a reason, with where a followed redirect led.
func label(name string, a answer) string {
	if a.redirected && a.url != nil {
		return name + ", redirected to " + showURL(a.url) + ","
	}
	return name
}

// redirected is the detail of a redirect that was not followed.
func redirected(name, mustAnswer string, a answer, t monitor.Target) string {
	where := showURL(a.unfollowed)
	if !a.refused && looksLikeSignIn(a.unfollowed) {
		return fmt.Sprintf("%s was redirected to a sign-in page at %s: is a sign-in proxy in front of ProGet? %s must answer %s: exempt it at the proxy, or set %s/url to an address behind the proxy",
			name, where, name, mustAnswer, t.Key)
	}
	return fmt.Sprintf("%s was redirected to %s, %s: set %s/url to where ProGet answers", name, where, a.why, t.Key)
}
