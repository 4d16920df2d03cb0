package proget_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// probed is each probe's reading as "label Status: detail", in order.
func probed(o monitor.Observation) []string {
	out := make([]string, len(o.Probes))
	for i, r := range o.Probes {
		out[i] = strings.TrimPrefix(r.Component, monitor.ProbePrefix) + " " + string(r.Status)
		if r.Detail != "" {
			out[i] += ": " + r.Detail
		}
	}
	return out
}

func withProbes(t monitor.Target, lines ...string) monitor.Target {
	for _, l := range lines {
		f := strings.Fields(l)
		t.Probes = append(t.Probes, monitor.Probe{Label: f[0], Path: f[1], Key: len(f) == 3})
	}
	return t
}

func compare(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const loginPage = `<!DOCTYPE html><html><head><title>Sign in</title></head><body><form method="post">
<input type="text" name="username"><input name="pw" TYPE='Password'></form></body></html>`

// TestProbeOutcomes: what a feed answers, and what the probe makes of it.
func TestProbeOutcomes(t *testing.T) {
	reply := func(status int, contentType, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if contentType != "" {
				w.Header().Set("Content-Type", contentType)
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	big := `{"name":"react","versions":{` + strings.Repeat(`"1.0.0":{"description":"a packument larger than the bound"},`, 1000)
	mux := http.NewServeMux()
	for path, h := range map[string]http.HandlerFunc{
		"/npm/json":            reply(200, "application/json; charset=utf-8", `{"name":"left-pad"}`),
		"/pypi/html":           reply(200, "text/html", `<!DOCTYPE html><html><head><title>Links for requests</title></head><body><a href="x.whl">x.whl</a></body></html>`),
		"/maven/xml":           reply(200, "text/xml", `<?xml version="1.0"?><metadata/>`),
		"/pypi/vnd-json":       reply(200, "application/vnd.pypi.simple.v1+json", "\xef\xbb\xbf"+`{"meta":{"api-version":"1.1"},"files":[]}`),
		"/npm/gone":            reply(404, "text/html", "<html><title>Not Found - ProGet</title></html>"),
		"/npm/bad-gateway":     reply(502, "text/plain", "An error occurred in the connector npmjs.org\n   at Inedo.ProGet.Feeds()"),
		"/npm/unavailable":     reply(503, "", ""),
		"/npm/too-many":        reply(429, "text/plain", "slow down"),
		"/npm/empty":           reply(200, "application/json", ""),
		"/npm/blank":           reply(200, "application/json", " \r\n\t"),
		"/npm/no-content":      reply(204, "", ""),
		"/npm/bad-json":        reply(200, "application/json", `{"name":"left-pad",}`),
		"/npm/unfinished-json": reply(200, "application/json", `{"name":"left-pad"`),
		"/npm/two-values":      reply(200, "application/json", `{} {}`),
		"/npm/html-as-json":    reply(200, "application/json", "<html><head><title>Error</title></head></html>"),
		"/npm/sign-in":         reply(200, "text/html; charset=utf-8", loginPage),
		"/npm/sign-in-untyped": reply(200, "", loginPage),
		"/npm/big-json":        reply(200, "application/json", big),
		"/npm/big-bad-early":   reply(200, "application/json", strings.Replace(big, `"react",`, `"react" `, 1)),
		"/npm/big-bad-late":    reply(200, "application/json", big[:20<<10]+"]"+big[20<<10:]),
		"/npm/slow": func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		},
		"/npm/trickle": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"name":`))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		},
		"/moved": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/npm/json", http.StatusMovedPermanently)
		},
		"/health": healthy,
	} {
		mux.HandleFunc(path, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	srv.Config.ErrorLog = quiet
	tg := withProbes(target(srv.URL, ""),
		"json /npm/json", "html /pypi/html", "xml /maven/xml", "vnd-json /pypi/vnd-json", "404 /npm/gone?token=abc", "502 /npm/bad-gateway",
		"503 /npm/unavailable", "429 /npm/too-many", "empty /npm/empty", "blank /npm/blank", "204 /npm/no-content", "bad-json /npm/bad-json",
		"unfinished /npm/unfinished-json", "two-values /npm/two-values", "html-as-json /npm/html-as-json", "sign-in /npm/sign-in",
		"sign-in-untyped /npm/sign-in-untyped", "big-json /npm/big-json", "big-bad-early /npm/big-bad-early", "big-bad-late /npm/big-bad-late", "slow /npm/slow",
		"trickle /npm/trickle", "moved /moved", "no-such-path /npm/nothing")
	began := time.Now()
	o := proget.New(300*time.Millisecond, proget.WithMaxProbeBytes(16<<10)).Check(context.Background(), tg)
	compare(t, probed(o), []string{
		"json OK",
		"html OK",
		"xml OK",
		"vnd-json OK",
		"404 Error: HTTP 404 from /npm/gone: not found (is the feed's connector failing, or the probe's path wrong?)",
		`502 Error: HTTP 502 from /npm/bad-gateway: "An error occurred in the connector npmjs.org"`,
		"503 Error: HTTP 503 from /npm/unavailable",
		`429 Error: HTTP 429 from /npm/too-many: "slow down"`,
		"empty Error: HTTP 200 but the body is empty",
		"blank Error: HTTP 200 but the body is empty",
		"204 Error: HTTP 204 but the body is empty",
		"bad-json Error: HTTP 200 but the JSON does not parse (a key was expected at byte 19)",
		"unfinished Error: HTTP 200 but the JSON does not parse (it ends unfinished, at byte 18)",
		"two-values Error: HTTP 200 but the JSON does not parse (more follows the value at byte 3)",
		`html-as-json Error: HTTP 200 but the JSON does not parse: an HTML page titled "Error"`,
		`sign-in Error: HTTP 200 but a sign-in page titled "Sign in": is the feed private? End the probe's line with "key" to send the API key`,
		`sign-in-untyped Error: HTTP 200 but a sign-in page titled "Sign in": is the feed private? End the probe's line with "key" to send the API key`,
		"big-json OK",
		"big-bad-early Error: HTTP 200 but the JSON does not parse (a comma or a closing bracket was expected at byte 16)",
		"big-bad-late OK", // beyond the bound (16 KiB here): not read
		"slow Error: timed out after 300ms",
		"trickle Error: HTTP 200 but the body timed out after 300ms",
		"moved OK",
		"no-such-path Error: HTTP 404 from /npm/nothing: not found (is the feed's connector failing, or the probe's path wrong?)",
	})
	if !o.Up() {
		t.Errorf("the instance: %+v", o.Instance)
	}
	// 24 probes, 4 at a time, two of them slow: about two timeouts at worst.
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("the check took %v", d)
	}
}

// TestProbesRunFourAtOnce: an instance's probes run at most four at a
// time, and are reported in the order configured.
func TestProbesRunFourAtOnce(t *testing.T) {
	var inFlight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			healthy(w, r)
			return
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(100 * time.Millisecond)
		fmt.Fprint(w, r.URL.Path)
	}))
	defer srv.Close()
	var lines, want []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf("p%d /feed/%d", i, i))
		want = append(want, fmt.Sprintf("p%d OK", i))
	}
	o := proget.New(2*time.Second).Check(context.Background(), withProbes(target(srv.URL, ""), lines...))
	compare(t, probed(o), want)
	if m := most.Load(); m != 4 {
		t.Errorf("%d probes ran at once, want 4", m)
	}
}

// TestProbesWhenHealthFails: probes are reported whatever /health answers;
// the decision ignores them while the instance is down.
func TestProbesWhenHealthFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			<-r.Context().Done() // hangs
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	o := proget.New(200*time.Millisecond).Check(context.Background(), withProbes(target(srv.URL, ""), "npm /npm/x"))
	if o.Up() || o.Instance.Detail != "/health: no answer within 200ms" {
		t.Errorf("instance %+v", o.Instance)
	}
	compare(t, probed(o), []string{"npm OK"})

	srv.Close()
	o = proget.New(200*time.Millisecond).Check(context.Background(), withProbes(target(srv.URL, ""), "npm /npm/x"))
	compare(t, probed(o), []string{"npm Error: connection refused"})
}

// TestProbeRedirects: a probe follows redirects to other hosts as a
// browser does, never with the API key, and never to an address the
// monitor does not connect to.
func TestProbeRedirects(t *testing.T) {
	var mu sync.Mutex
	keysSeen := map[string]string{} // host and path -> X-ApiKey received
	note := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		keysSeen[r.Host+r.URL.Path] = r.Header.Get("X-ApiKey")
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note(r)
		switch r.URL.Path {
		case "/tarballs/left-pad-1.3.0.tgz", "/echo":
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprint(w, "\x1f\x8b tarball")
		case "/login":
			fmt.Fprint(w, loginPage)
		default:
			http.NotFound(w, r)
		}
	}))
	defer other.Close()
	_, otherPort, _ := strings.Cut(hostPort(other.URL), ":")
	cdn := "http://cdn.corp.example:" + otherPort
	sso := "http://sso.corp.example:" + otherPort
	runtime := newWitness(t, invocationEvent)
	var loops atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note(r)
		if r.URL.Path == "/loop" {
			loops.Add(1)
		}
		to := map[string]string{
			"/npm/feed/left-pad/-/left-pad-1.3.0.tgz": cdn + "/tarballs/left-pad-1.3.0.tgz?sig=s3cr3t",
			"/private/pkg":   sso + "/login?next=%2Fprivate%2Fpkg",
			"/private/keyed": sso + "/login?next=%2Fprivate%2Fkeyed",
			"/cdn-missing":   cdn + "/missing",
			"/loop":          "/loop",
			"/metadata":      "http://169.254.169.254/latest/meta-data/",
			"/metadata-name": "http://metadata.corp.example/latest/meta-data/",
			"/runtime":       runtime.URL + "/2018-06-01/runtime/invocation/next",
			"/ftp":           "ftp://cdn.corp.example/pub/x",
			"/same-host":     "/ok",
			"/other-port":    "http://127.0.0.1:" + otherPort + "/echo",
			"/unresolvable":  "http://nowhere.corp.example/x",
		}[r.URL.Path]
		switch {
		case r.URL.Path == "/health":
			healthy(w, r)
		case to != "":
			http.Redirect(w, r, to, http.StatusFound)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer origin.Close()
	resolver := fakeDNS(t, map[string]string{"cdn.corp.example": "127.0.0.1", "sso.corp.example": "127.0.0.1", "metadata.corp.example": "169.254.169.254"})
	client := proget.New(time.Second, proget.WithResolver(resolver), proget.WithRuntimeAPI(hostPort(runtime.URL)))
	tg := withProbes(target(origin.URL, key),
		"tarball /npm/feed/left-pad/-/left-pad-1.3.0.tgz key", "sign-in /private/pkg", "sign-in-key /private/keyed key",
		"cdn-404 /cdn-missing", "loop /loop", "metadata /metadata", "metadata-name /metadata-name", "runtime /runtime",
		"ftp /ftp", "same-host /same-host key", "other-port /other-port key", "unresolvable /unresolvable")
	o := client.Check(context.Background(), tg)
	compare(t, probed(o), []string{
		"tarball OK",
		`sign-in Error: HTTP 200 but a sign-in page titled "Sign in" (at ` + sso + `/login): is the feed private? End the probe's line with "key" to send the API key`,
		`sign-in-key Error: HTTP 200 but a sign-in page titled "Sign in" (at ` + sso + `/login): the API key is never sent to another host (a sign-in proxy in front of ProGet?)`,
		"cdn-404 Error: HTTP 404 from " + cdn + "/missing: not found (is the feed's connector failing, or the probe's path wrong?)",
		"loop Error: redirected more than 10 times, last to " + origin.URL + "/loop",
		"metadata Error: redirected to http://169.254.169.254/latest/meta-data/, a link-local address, which the monitor never connects to",
		"metadata-name Error: redirected to http://metadata.corp.example/latest/meta-data/: it resolves to a link-local address (169.254.169.254:80), which the monitor never connects to",
		"runtime Error: redirected to " + runtime.URL + "/2018-06-01/runtime/invocation/next, the Lambda Runtime API's address, which the monitor never connects to",
		"ftp Error: redirected to ftp://cdn.corp.example/pub/x, not an HTTP address",
		"same-host OK",
		"other-port OK",
		"unresolvable Error: redirected to http://nowhere.corp.example/x: DNS lookup of nowhere.corp.example failed",
	})
	runtime.untouched(t)
	if n := loops.Load(); n != 11 {
		t.Errorf("the loop was asked %d times, want the first request and 10 redirects", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for where, want := range map[string]string{
		hostPort(origin.URL) + "/npm/feed/left-pad/-/left-pad-1.3.0.tgz": key, // the instance: a key probe sends it
		hostPort(origin.URL) + "/ok":                                     key, // followed within the instance's origin
		hostPort(origin.URL) + "/private/pkg":                            "",
		hostPort(origin.URL) + "/private/keyed":                          key,
		"cdn.corp.example:" + otherPort + "/tarballs/left-pad-1.3.0.tgz": "",
		"sso.corp.example:" + otherPort + "/login":                       "",
		"127.0.0.1:" + otherPort + "/echo":                               "", // the same address, another port: another origin
	} {
		if got, ok := keysSeen[where]; !ok || got != want {
			t.Errorf("%s received key %q (requested: %v), want %q", where, got, ok, want)
		}
	}
	for where, got := range keysSeen {
		if got != "" && !strings.HasPrefix(where, hostPort(origin.URL)) {
			t.Errorf("the API key reached %s", where)
		}
	}
}

// TestProbeKeyOnlyWhenAsked: only probes marked key send the API key, and
// a private feed says what is missing.
func TestProbeKeyOnlyWhenAsked(t *testing.T) {
	in := start(t, progetsim.V2024)
	in.AddFeed(progetsim.Feed{Name: "public", Type: progetsim.NpmFeed})
	in.AddFeed(progetsim.Feed{Name: "internal", Type: progetsim.NpmFeed, Private: true})
	in.AddFeed(progetsim.Feed{Name: "portal", Type: progetsim.NuGetFeed, Private: true, SignIn: true})
	lines := []string{"public /npm/public/left-pad", "private /npm/internal/corp-lib key", "anonymous /npm/internal/corp-lib",
		"portal /nuget/portal/v3/registration/corp.lib/index.json"}
	client := proget.New(2 * time.Second)
	o := client.Check(context.Background(), withProbes(target(in.URL(), key), lines...))
	compare(t, probed(o), []string{
		"public OK",
		"private OK",
		`anonymous Error: HTTP 401 from /npm/internal/corp-lib: is the feed private? End the probe's line with "key" to send the API key`,
		`portal Error: HTTP 200 but a sign-in page titled "Log In - ProGet" (at /log-in): is the feed private? End the probe's line with "key" to send the API key`,
	})
	keyed := 0
	for _, r := range in.Requests() {
		if r.Header.Get("X-ApiKey") == "" || strings.HasPrefix(r.URL, "/api/connector-health") {
			continue
		}
		keyed++
		if r.URL != "/npm/internal/corp-lib" || r.Header.Get("X-ApiKey") != key {
			t.Errorf("%s was sent X-ApiKey", r.URL)
		}
	}
	if keyed != 1 {
		t.Errorf("%d feed requests carried the key, want the private probe's alone", keyed)
	}

	o = client.Check(context.Background(), withProbes(target(in.URL(), "wrong-key"), "private /npm/internal/corp-lib key"))
	compare(t, probed(o), []string{"private Error: HTTP 403 from /npm/internal/corp-lib: the API key did not let the probe in (check " + targetKey + "/api-key, and that its user may view the feed)"})
	o = client.Check(context.Background(), withProbes(target(in.URL(), ""), "private /npm/internal/corp-lib key"))
	compare(t, probed(o), []string{"private Error: HTTP 401 from /npm/internal/corp-lib: the probe sends the API key, but there is none at " + targetKey + "/api-key"})
}

// TestProbeKeyNeverShows: a feed that echoes the key, in every way an
// answer reaches a reason, never gets a piece of it into the observation.
func TestProbeKeyNeverShows(t *testing.T) {
	filler := strings.Repeat("The connector could not reach its upstream; ", 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthy)
	mux.HandleFunc("/plain/{offset}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, filler[:atoi(r.PathValue("offset"))]+echoedKey+filler)
	})
	mux.HandleFunc("/title/{offset}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html><head><title>%s</title></head><input type=password></html>",
			strings.ReplaceAll(filler[:atoi(r.PathValue("offset"))]+echoedKey, "+", "&#43;"))
	})
	mux.HandleFunc("/json-title/{offset}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "<html><head><title>%s</title></head></html>", filler[:atoi(r.PathValue("offset"))]+echoedKey)
	})
	mux.HandleFunc("/location/{offset}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://127.0.0.1:1/"+filler[:atoi(r.PathValue("offset"))]+"/"+strings.ReplaceAll(echoedKey, "+", "%2B")+"?key="+echoedKey)
		w.WriteHeader(http.StatusFound)
	})
	// A key cut where the head of a failed answer ends: the scrub cannot see
	// it whole, so that end is not shown.
	mux.HandleFunc("/straddle", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, strings.Repeat("\n", 8<<10-10)+echoedKey)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var lines []string
	for _, off := range []int{0, 5, 60, 150} {
		for _, kind := range []string{"plain", "title", "json-title", "location"} {
			lines = append(lines, fmt.Sprintf("%s-%d /%s/%d", kind, off, kind, off))
		}
	}
	lines = append(lines, "straddle /straddle")
	o := proget.New(time.Second).Check(context.Background(), withProbes(target(srv.URL, echoedKey), lines...))
	if l := leak(o); l != "" {
		t.Errorf("the key shows: %s", l)
	}
	redacted := 0
	for _, r := range o.Probes {
		if r.Status != monitor.StatusError {
			t.Errorf("%s: %s", r.Component, r.Status)
		}
		if strings.Contains(r.Detail, "[redacted]") {
			redacted++
		}
	}
	if redacted < 8 {
		t.Errorf("only %d reasons say [redacted]: %s", redacted, strings.Join(probed(o), "\n"))
	}
	if got := probed(o)[len(lines)-1]; got != "straddle Error: HTTP 502 from /straddle" {
		t.Errorf("got %s", got)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestProbeSeesConnectorGoDown: on ProGet 2024, where nothing else shows a
// connector, the probe reads Error while the npm connector is down (404 or
// 5xx, both seen) and OK again once it is back; the instance's url may
// have a path.
func TestProbeSeesConnectorGoDown(t *testing.T) {
	host := progetsim.NewHost()
	in := progetsim.New(progetsim.V2024)
	in.AddFeed(progetsim.Feed{Name: "npm-remote", Type: progetsim.NpmFeed, Connector: "npmjs.org"})
	host.Mount("/proget", in)
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Stop()
	client := proget.New(2 * time.Second)
	tg := withProbes(target(in.URL(), ""), "npm /npm/npm-remote/left-pad")
	check := func() monitor.Observation {
		o := client.Check(context.Background(), tg)
		if !o.Up() || o.Connectors.Status != monitor.StatusNotConfigured {
			t.Errorf("the instance: %s", summarize(o))
		}
		return o
	}
	compare(t, probed(check()), []string{"npm OK"})
	in.SetUpstreamDown("npm-remote", http.StatusNotFound)
	compare(t, probed(check()), []string{"npm Error: HTTP 404 from /npm/npm-remote/left-pad: not found (is the feed's connector failing, or the probe's path wrong?)"})
	in.SetUpstreamDown("npm-remote", http.StatusBadGateway)
	compare(t, probed(check()), []string{`npm Error: HTTP 502 from /npm/npm-remote/left-pad: "An error occurred in the connector npmjs.org: the remote server could not be reached (No such host is known.)"`})
	in.SetUpstreamDown("npm-remote", 0)
	compare(t, probed(check()), []string{"npm OK"})
	if got := paths(in); !strings.Contains(got, "/health?format=json /npm/npm-remote/left-pad") && !strings.Contains(got, "/npm/npm-remote/left-pad /health?format=json") {
		t.Errorf("the instance at %s was asked for %s", in.URL(), got)
	}
}

// TestProbeAndMetadataCache: a package cached while the upstream was up
// passes until its cache entry expires, then fails; one never cached fails
// at once.
func TestProbeAndMetadataCache(t *testing.T) {
	in := start(t, progetsim.V2024)
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	in.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	in.AddFeed(progetsim.Feed{Name: "pypi", Type: progetsim.PyPIFeed, MetadataCache: 30 * time.Minute})
	client := proget.New(2 * time.Second)
	cached := withProbes(target(in.URL(), ""), "requests /pypi/pypi/simple/requests/")
	both := withProbes(target(in.URL(), ""), "requests /pypi/pypi/simple/requests/", "flask /pypi/pypi/simple/flask/")

	compare(t, probed(client.Check(context.Background(), cached)), []string{"requests OK"})
	in.SetUpstreamDown("pypi", http.StatusServiceUnavailable)
	advance(29 * time.Minute)
	compare(t, probed(client.Check(context.Background(), both)), []string{
		"requests OK",
		`flask Error: HTTP 503 from /pypi/pypi/simple/flask/: "An error occurred in the connector pypi-connector: the remote server could not be reached (No such host is known.)"`,
	})
	advance(time.Minute)
	compare(t, probed(client.Check(context.Background(), cached)), []string{
		`requests Error: HTTP 503 from /pypi/pypi/simple/requests/: "An error occurred in the connector pypi-connector: the remote server could not be reached (No such host is known.)"`,
	})
}

// TestSlowProbeDelaysNoOtherInstance: two instances checked at once, one
// with a probe that hangs: the other's check is done long before.
func TestSlowProbeDelaysNoOtherInstance(t *testing.T) {
	slow, quick := start(t, progetsim.V2024), start(t, progetsim.V2024)
	for _, in := range []*progetsim.Instance{slow, quick} {
		in.AddFeed(progetsim.Feed{Name: "npm", Type: progetsim.NpmFeed})
	}
	slow.SetUpstreamLatency("npm", 5*time.Second)
	client := proget.New(800 * time.Millisecond)
	var wg sync.WaitGroup
	var slowObs, quickObs monitor.Observation
	var slowTook, quickTook time.Duration
	began := time.Now()
	wg.Go(func() {
		slowObs = client.Check(context.Background(), withProbes(target(slow.URL(), ""), "npm /npm/npm/left-pad", "npm2 /npm/npm/is-odd"))
		slowTook = time.Since(began)
	})
	wg.Go(func() {
		quickObs = client.Check(context.Background(), withProbes(target(quick.URL(), ""), "npm /npm/npm/left-pad", "npm2 /npm/npm/is-odd"))
		quickTook = time.Since(began)
	})
	wg.Wait()
	compare(t, probed(slowObs), []string{"npm Error: timed out after 800ms", "npm2 Error: timed out after 800ms"})
	compare(t, probed(quickObs), []string{"npm OK", "npm2 OK"})
	if quickTook > 400*time.Millisecond || slowTook < 800*time.Millisecond {
		t.Errorf("the quick instance took %v, the slow one %v", quickTook, slowTook)
	}
	if !slowObs.Up() || slowObs.ResponseTime > 400*time.Millisecond {
		t.Errorf("a slow probe is not a slow /health: %+v in %v", slowObs.Instance, slowObs.ResponseTime)
	}
}
