package progetsim_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// clock is a settable clock for the metadata cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// body returns "<status> <content type> <body>" of a GET, without following redirects.
func body(t *testing.T, url string, header ...string) string {
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
	b, _ := io.ReadAll(resp.Body)
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return strings.Join([]string{resp.Status[:3], ct, string(b)}, " ")
}

func withFeeds(t *testing.T, gen progetsim.Generation) *progetsim.Instance {
	t.Helper()
	in := started(t, gen)
	in.AddFeed(progetsim.Feed{Name: "npm-remote", Type: progetsim.NpmFeed, Connector: "npmjs.org", Packages: []string{"left-pad", "@types/node"}})
	in.AddFeed(progetsim.Feed{Name: "nuget-remote", Type: progetsim.NuGetFeed, Connector: "nuget.org"})
	in.AddFeed(progetsim.Feed{Name: "pypi-remote", Type: progetsim.PyPIFeed, Connector: "pypi.org"})
	in.AddFeed(progetsim.Feed{Name: "maven-central", Type: progetsim.MavenFeed})
	in.AddFeed(progetsim.Feed{Name: "files", Type: progetsim.AssetFeed})
	return in
}

// TestFeedsAnswerAsProGetDoes: each feed type at its own URLs, through its connector.
func TestFeedsAnswerAsProGetDoes(t *testing.T) {
	in := withFeeds(t, progetsim.V2024)
	for _, tc := range []struct{ path, want string }{
		{"/npm/npm-remote/left-pad", `200 application/json {"_id":"left-pad",`},
		{"/npm/npm-remote/@types/node", `200 application/json {"_id":"@types/node",`},
		{"/npm/npm-remote/@types%2fnode", `200 application/json {"_id":"@types/node",`},
		{"/npm/npm-remote/left-pad/-/left-pad-1.3.0.tgz", "200 application/octet-stream simulated tarball of left-pad@1.3.0"},
		{"/npm/npm-remote/right-pad", `404 application/json {"error":"Not found"}`},
		{"/npm/NPM-REMOTE/left-pad", `200 application/json {"_id":"left-pad",`},
		{"/npm/nuget-remote/left-pad", "404 text/html <!DOCTYPE html><html><head><title>Not Found - ProGet</title>"},
		{"/npm/no-such-feed/left-pad", "404 text/html <!DOCTYPE html>"},
		{"/nuget/nuget-remote/v3/index.json", `200 application/json {"resources":[`},
		{"/nuget/nuget-remote/v3/registration/newtonsoft.json/index.json", `200 application/json {"count":1,"items":[{"@id":"` + in.URL() + `/nuget/nuget-remote/v3/registration/newtonsoft.json/index.json#page/1.3.0/1.3.0"`},
		{"/pypi/pypi-remote/simple/Requests_OAuthlib/", "200 text/html <!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for requests-oauthlib</title>"},
		{"/maven2/maven-central/org/apache/commons/commons-lang3/maven-metadata.xml", `200 text/xml <?xml version="1.0" encoding="UTF-8"?>` + "\n<metadata><groupId>org.apache.commons</groupId><artifactId>commons-lang3</artifactId>"},
		{"/endpoints/files/content/tools/setup.sh", "200 application/octet-stream simulated asset tools/setup.sh"},
	} {
		if got := body(t, in.URL()+tc.path); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s:\ngot  %.200s\nwant %s...", tc.path, got, tc.want)
		}
	}
}

// TestUpstreamDown: a package never cached fails while the upstream is
// down, with 404 or a 5xx as configured, and is served again when it is back.
func TestUpstreamDown(t *testing.T) {
	in := withFeeds(t, progetsim.V2026)
	url := in.URL() + "/npm/npm-remote/left-pad"
	in.SetUpstreamDown("npm-remote", http.StatusNotFound)
	if got := body(t, url); got != `404 application/json {"error":"Not found"}` {
		t.Errorf("down, 404: %s", got)
	}
	in.SetUpstreamDown("npm-remote", http.StatusBadGateway)
	if got := body(t, url); got != "502 text/plain An error occurred in the connector npmjs.org: the remote server could not be reached (No such host is known.)" {
		t.Errorf("down, 502: %s", got)
	}
	if got := body(t, in.URL()+"/nuget/nuget-remote/registration/x/index.json"); !strings.HasPrefix(got, "404") {
		t.Errorf("another feed's path: %s", got)
	}
	if got := body(t, in.URL()+"/nuget/nuget-remote/v3/registration/x/index.json"); !strings.HasPrefix(got, "200") {
		t.Errorf("another feed is not affected: %s", got)
	}
	in.SetUpstreamDown("npm-remote", 0)
	if got := body(t, url); !strings.HasPrefix(got, "200 ") {
		t.Errorf("back up: %s", got)
	}
}

// TestMetadataCache: a package fetched while the upstream was up is served
// from the cache after it went down, until the entry expires.
func TestMetadataCache(t *testing.T) {
	in := started(t, progetsim.V2024)
	clk := &clock{now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	in.SetClock(clk.Now)
	in.AddFeed(progetsim.Feed{Name: "npm-remote", Type: progetsim.NpmFeed, MetadataCache: 30 * time.Minute})
	cached, uncached := in.URL()+"/npm/npm-remote/left-pad", in.URL()+"/npm/npm-remote/is-odd"
	if got := body(t, cached); !strings.HasPrefix(got, "200 ") {
		t.Fatalf("while up: %s", got)
	}
	in.SetUpstreamDown("npm-remote", http.StatusServiceUnavailable)
	clk.advance(29 * time.Minute)
	if got := body(t, cached); !strings.HasPrefix(got, "200 ") {
		t.Errorf("cached, 29 minutes later: %s", got)
	}
	if got := body(t, uncached); !strings.HasPrefix(got, "503 ") {
		t.Errorf("never cached: %s", got)
	}
	clk.advance(time.Minute)
	if got := body(t, cached); !strings.HasPrefix(got, "503 ") {
		t.Errorf("the entry expired: %s", got)
	}
	in.SetUpstreamDown("npm-remote", 0)
	if got := body(t, cached); !strings.HasPrefix(got, "200 ") {
		t.Errorf("back up: %s", got)
	}
}

// TestMetadataCacheOnRealTime: with the real clock, a cache of a few
// hundred milliseconds shows the failure once the entry expires.
func TestMetadataCacheOnRealTime(t *testing.T) {
	in := started(t, progetsim.V2024)
	in.AddFeed(progetsim.Feed{Name: "pypi", Type: progetsim.PyPIFeed, MetadataCache: 200 * time.Millisecond})
	url := in.URL() + "/pypi/pypi/simple/requests/"
	body(t, url)
	in.SetUpstreamDown("pypi", http.StatusNotFound)
	if got := body(t, url); !strings.HasPrefix(got, "200 ") {
		t.Errorf("cached: %s", got)
	}
	time.Sleep(250 * time.Millisecond)
	if got := body(t, url); !strings.HasPrefix(got, "404 ") {
		t.Errorf("expired: %s", got)
	}
}

// TestPrivateFeeds: 401 without a key, 403 with a wrong one; or ProGet's
// sign-in page, which a request without a key is sent to.
func TestPrivateFeeds(t *testing.T) {
	in := started(t, progetsim.V2024)
	in.SetAPIKey("k")
	in.AddFeed(progetsim.Feed{Name: "internal", Type: progetsim.NpmFeed, Private: true})
	in.AddFeed(progetsim.Feed{Name: "portal", Type: progetsim.NpmFeed, Private: true, SignIn: true})
	url := in.URL() + "/npm/internal/corp-lib"
	for _, tc := range []struct {
		header []string
		want   string
	}{
		{nil, "401 text/plain Authentication required."},
		{[]string{"X-ApiKey", "wrong"}, "403  "},
		{[]string{"X-ApiKey", "k"}, `200 application/json {"_id":"corp-lib"`},
		{[]string{"Authorization", "Basic YXBpOms="}, `200 application/json {"_id":"corp-lib"`}, // api:k
	} {
		if got := body(t, url, tc.header...); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%v: %s, want %s", tc.header, got, tc.want)
		}
	}
	resp, err := noFollow.Get(in.URL() + "/npm/portal/corp-lib")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/log-in?ReturnUrl=%2Fnpm%2Fportal%2Fcorp-lib" {
		t.Errorf("sign-in: %d to %q", resp.StatusCode, loc)
	}
	page := body(t, in.URL()+"/log-in")
	if !strings.Contains(page, "<title>Log In - ProGet</title>") || !strings.Contains(page, `type="password"`) {
		t.Errorf("the sign-in page: %s", page)
	}
	if got := body(t, in.URL()+"/npm/portal/corp-lib", "X-ApiKey", "k"); !strings.HasPrefix(got, "200 ") {
		t.Errorf("with the key: %s", got)
	}
}

// TestSlowUpstreamHoldsUpNothingElse: a slow upstream delays its own
// feed's answers only.
func TestSlowUpstreamHoldsUpNothingElse(t *testing.T) {
	in := withFeeds(t, progetsim.V2024)
	in.SetUpstreamLatency("npm-remote", 400*time.Millisecond)
	done := make(chan time.Duration)
	go func() {
		began := time.Now()
		body(t, in.URL()+"/npm/npm-remote/left-pad")
		done <- time.Since(began)
	}()
	time.Sleep(50 * time.Millisecond)
	began := time.Now()
	body(t, in.URL()+"/pypi/pypi-remote/simple/requests/")
	body(t, in.URL()+"/health")
	if d := time.Since(began); d > 200*time.Millisecond {
		t.Errorf("other requests took %v behind a slow upstream", d)
	}
	if d := <-done; d < 400*time.Millisecond {
		t.Errorf("the slow feed answered in %v", d)
	}
}

// TestFeedsBehindAHost: a mounted instance's feeds, and its sign-in
// redirect, are under its path.
func TestFeedsBehindAHost(t *testing.T) {
	host := progetsim.NewHost()
	in := progetsim.New(progetsim.V2024)
	in.AddFeed(progetsim.Feed{Name: "npm", Type: progetsim.NpmFeed, Private: true, SignIn: true})
	host.Mount("/proget", in)
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Stop()
	resp, err := noFollow.Get(in.URL() + "/npm/npm/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/proget/log-in?ReturnUrl=%2Fproget%2Fnpm%2Fnpm%2Fx" {
		t.Errorf("sign-in redirect %q", loc)
	}
	if err := in.SetCertificate("proget", time.Now().Add(time.Hour)); err == nil {
		t.Error("a mounted instance cannot have its own certificate")
	}
}

// TestCertificate: an instance serves HTTPS with a certificate of a chosen
// expiry, from a CA that CAPEM gives; a renewal applies to new connections.
func TestCertificate(t *testing.T) {
	in := progetsim.New(progetsim.V2026)
	notAfter := time.Now().Add(5 * 24 * time.Hour).Truncate(time.Second)
	if err := in.SetCertificate("proget.corp.example", notAfter); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	if !strings.HasPrefix(in.URL(), "https://127.0.0.1:") {
		t.Fatalf("url %s", in.URL())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(in.CAPEM())) {
		t.Fatalf("CA PEM %q", in.CAPEM())
	}
	leaf := func() *x509.Certificate {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		resp, err := c.Get(in.URL() + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0]
	}
	if c := leaf(); !c.NotAfter.Equal(notAfter) || c.Subject.CommonName != "proget.corp.example" {
		t.Errorf("certificate %s until %v, want until %v", c.Subject.CommonName, c.NotAfter, notAfter)
	}
	renewed := notAfter.Add(90 * 24 * time.Hour)
	if err := in.SetCertificate("proget.corp.example", renewed); err != nil {
		t.Fatal(err)
	}
	if c := leaf(); !c.NotAfter.Equal(renewed) {
		t.Errorf("renewed certificate until %v, want %v", c.NotAfter, renewed)
	}
	// An expired one is served as it is: refusing it is the client's business.
	if err := in.SetCertificate("proget.corp.example", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	if _, err := c.Get(in.URL() + "/health"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired certificate: %v", err)
	}
}
