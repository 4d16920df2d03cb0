package progetsim

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// FeedType is a kind of ProGet feed: it decides the feed's URLs and answers.
type FeedType string

const (
	// NpmFeed serves packuments at /npm/<feed>/<package> (JSON) and tarballs
	// at /npm/<feed>/<package>/-/<file>.tgz.
	NpmFeed FeedType = "npm"
	// NuGetFeed serves the v3 service index at /nuget/<feed>/v3/index.json
	// (from ProGet itself, never through the connector) and registration
	// indexes at /nuget/<feed>/v3/registration/<id>/index.json (JSON).
	NuGetFeed FeedType = "nuget"
	// PyPIFeed serves simple pages at /pypi/<feed>/simple/<package>/ (HTML).
	PyPIFeed FeedType = "pypi"
	// MavenFeed serves /maven2/<feed>/<group path>/<artifact>/maven-metadata.xml
	// (XML); its packages are named "<group>:<artifact>".
	MavenFeed FeedType = "maven"
	// AssetFeed is an asset directory: raw files at
	// /endpoints/<feed>/content/<path>; its packages are file paths.
	AssetFeed FeedType = "asset"
)

// Feed is one feed of an instance, with a connector to its upstream.
type Feed struct {
	Name string // as in its URLs
	Type FeedType
	// Connector names the feed's connector in error texts ("npmjs.org").
	Connector string
	// Packages are what the upstream has; empty: any name asked for.
	Packages []string
	// MetadataCache is the connector's metadataCacheMinutes: a package
	// fetched from the upstream is served from the cache for this long,
	// whatever the upstream does meanwhile. Zero: no cache.
	MetadataCache time.Duration
	// Private feeds refuse requests without the instance's API key (see
	// SetAPIKey): 401 with no key, 403 with a wrong one.
	Private bool
	// SignIn makes a private feed redirect a request without a key to
	// ProGet's sign-in page (/log-in), as it does for a browser, instead of 401.
	SignIn bool
}

// feed is a feed and what its connector is doing.
type feed struct {
	Feed
	down    int // what an uncached package gets while the upstream is down; 0: up
	latency time.Duration
	fetched map[string]time.Time // package -> when the upstream last gave it
}

// AddFeed adds a feed whose upstream is up, or replaces the feed of that name.
func (in *Instance) AddFeed(f Feed) {
	in.update(func() {
		if in.feeds == nil {
			in.feeds = map[string]*feed{}
		}
		in.feeds[strings.ToLower(f.Name)] = &feed{Feed: f, fetched: map[string]time.Time{}}
	})
}

// SetUpstreamDown takes a feed's upstream away: a package not in the
// connector's metadata cache then gets status (404, as if the package did
// not exist, or a 5xx, both seen from ProGet). 0 brings the upstream back.
func (in *Instance) SetUpstreamDown(feedName string, status int) {
	in.update(func() {
		if f := in.feeds[strings.ToLower(feedName)]; f != nil {
			f.down = status
		}
	})
}

// SetUpstreamLatency makes every request a feed sends to its upstream take d
// (a cache hit does not wait).
func (in *Instance) SetUpstreamLatency(feedName string, d time.Duration) {
	in.update(func() {
		if f := in.feeds[strings.ToLower(feedName)]; f != nil {
			f.latency = d
		}
	})
}

// SetClock sets the clock of the connectors' metadata caches (default time.Now).
func (in *Instance) SetClock(now func() time.Time) { in.update(func() { in.clock = now }) }

func (in *Instance) now() time.Time {
	if in.clock != nil {
		return in.clock()
	}
	return time.Now()
}

// feedRequest is a request for a package of a feed.
type feedRequest struct {
	typ     FeedType
	feed    string
	pkg     string // the package as the feed's type names it
	file    string // npm: a tarball's file name; empty for metadata
	service bool   // NuGet's service index: ProGet's own, no connector
}

// parseFeedPath reads path (relative to the instance) as a feed request.
func parseFeedPath(path string) (feedRequest, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 || parts[1] == "" {
		return feedRequest{}, false
	}
	r := feedRequest{feed: parts[1]}
	rest := parts[2:]
	switch parts[0] {
	case "npm":
		r.typ = NpmFeed
		if n := len(rest); n >= 3 && rest[n-2] == "-" {
			rest, r.file = rest[:n-2], rest[n-1]
		}
		// A name is one segment, or two for a scope: @types/node.
		if len(rest) == 1 || len(rest) == 2 && strings.HasPrefix(rest[0], "@") {
			r.pkg = strings.Join(rest, "/")
			return r, true
		}
	case "nuget":
		r.typ = NuGetFeed
		switch {
		case len(rest) == 2 && rest[0] == "v3" && rest[1] == "index.json":
			r.service = true
			return r, true
		case len(rest) == 4 && rest[0] == "v3" && rest[1] == "registration" && rest[3] == "index.json":
			r.pkg = rest[2]
			return r, true
		}
	case "pypi":
		r.typ = PyPIFeed
		if len(rest) == 2 && rest[0] == "simple" {
			r.pkg = rest[1]
			return r, true
		}
	case "maven2":
		r.typ = MavenFeed
		if n := len(rest); n >= 3 && rest[n-1] == "maven-metadata.xml" {
			r.pkg = strings.Join(rest[:n-2], ".") + ":" + rest[n-2]
			return r, true
		}
	case "endpoints":
		r.typ = AssetFeed
		if len(rest) >= 2 && rest[0] == "content" {
			r.pkg = strings.Join(rest[1:], "/")
			return r, true
		}
	}
	return feedRequest{}, false
}

// reply is an answer decided under the instance's lock and written after
// it, so that a slow upstream does not hold up other requests.
type reply struct {
	status   int
	header   http.Header
	body     []byte
	delay    time.Duration
	redirect string
}

func (rp reply) write(w http.ResponseWriter, r *http.Request) {
	if rp.delay > 0 {
		t := time.NewTimer(rp.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rp.header {
		w.Header()[k] = v
	}
	if rp.redirect != "" {
		w.Header().Set("Location", rp.redirect)
	}
	w.WriteHeader(rp.status)
	w.Write(rp.body)
}

func answer(status int, contentType string, body []byte) reply {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return reply{status: status, header: h, body: body}
}

const notFoundPage = "<!DOCTYPE html><html><head><title>Not Found - ProGet</title></head><body><h1>404</h1></body></html>"

func notFoundReply() reply {
	return answer(http.StatusNotFound, "text/html; charset=utf-8", []byte(notFoundPage))
}

// serveFeed decides the answer to a feed request; the caller holds in.mu.
func (in *Instance) serveFeed(r *http.Request, req feedRequest, path string) reply {
	if in.crash != "" {
		return answer(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte(in.crash+stackTrace))
	}
	f := in.feeds[strings.ToLower(req.feed)]
	if in.productName() != ProductProGet || f == nil || f.Type != req.typ {
		return notFoundReply()
	}
	if f.Private {
		switch k := keyOf(r); {
		case k == "" && f.SignIn:
			return reply{status: http.StatusFound, redirect: in.prefix + "/log-in?ReturnUrl=" + url.QueryEscape(in.prefix+path)}
		case k == "":
			rp := answer(http.StatusUnauthorized, "text/plain; charset=utf-8", []byte("Authentication required."))
			rp.header.Set("WWW-Authenticate", `Basic realm="ProGet"`)
			return rp
		case in.apiKey == "" || k != in.apiKey:
			return answer(http.StatusForbidden, "", nil)
		}
	}
	base := "http://" + r.Host + in.prefix
	if r.TLS != nil {
		base = "https://" + r.Host + in.prefix
	}
	if req.service {
		return jsonReply(nugetServiceIndex(base, f.Name))
	}
	served, status, delay := f.fetch(req.pkg, in.now())
	if !served {
		rp := notFoundReply()
		switch {
		case status >= 500:
			rp = answer(status, "text/plain; charset=utf-8", []byte(fmt.Sprintf(
				"An error occurred in the connector %s: the remote server could not be reached (No such host is known.)", f.connectorName())))
		case f.Type == NpmFeed:
			rp = answer(http.StatusNotFound, "application/json", []byte(`{"error":"Not found"}`))
		}
		rp.delay = delay
		return rp
	}
	var rp reply
	switch f.Type {
	case NpmFeed:
		if req.file != "" {
			rp = answer(http.StatusOK, "application/octet-stream", tarball(req.pkg))
		} else {
			rp = jsonReply(packument(base, f.Name, req.pkg))
		}
	case NuGetFeed:
		rp = jsonReply(registration(base, f.Name, req.pkg))
	case PyPIFeed:
		rp = answer(http.StatusOK, "text/html; charset=utf-8", []byte(simplePage(req.pkg)))
	case MavenFeed:
		rp = answer(http.StatusOK, "text/xml; charset=utf-8", []byte(mavenMetadata(req.pkg)))
	case AssetFeed:
		rp = answer(http.StatusOK, "application/octet-stream", []byte("simulated asset "+req.pkg+"\n"))
	}
	rp.delay = delay
	return rp
}

// fetch is what the connector does for a package: serve it from the
// metadata cache while the entry is fresh, otherwise ask the upstream. It
// returns whether the package is served, the status when it is not, and
// how long the upstream takes.
func (f *feed) fetch(pkg string, now time.Time) (served bool, status int, delay time.Duration) {
	name := f.normalize(pkg)
	if at, ok := f.fetched[name]; ok && f.MetadataCache > 0 && now.Sub(at) < f.MetadataCache {
		return true, 0, 0
	}
	if f.down != 0 {
		return false, f.down, f.latency
	}
	if !f.has(name) {
		return false, http.StatusNotFound, f.latency
	}
	f.fetched[name] = now
	return true, 0, f.latency
}

func (f *feed) has(name string) bool {
	if len(f.Packages) == 0 {
		return true
	}
	for _, p := range f.Packages {
		if f.normalize(p) == name {
			return true
		}
	}
	return false
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// normalize is a package name as the feed's type compares it.
func (f *feed) normalize(pkg string) string {
	switch f.Type {
	case NuGetFeed:
		return strings.ToLower(pkg)
	case PyPIFeed:
		return pypiSeparators.ReplaceAllString(strings.ToLower(pkg), "-") // PEP 503
	}
	return pkg
}

func (f *feed) connectorName() string {
	if f.Connector != "" {
		return f.Connector
	}
	return f.Name + "-connector"
}

func jsonReply(v any) reply {
	b, _ := json.Marshal(v)
	return answer(http.StatusOK, "application/json; charset=utf-8", b)
}

const simVersion = "1.3.0"

func tarball(pkg string) []byte {
	return []byte("simulated tarball of " + pkg + "@" + simVersion + "\n")
}

func packument(base, feed, pkg string) map[string]any {
	file := pkg[strings.LastIndex(pkg, "/")+1:] + "-" + simVersion + ".tgz"
	sum := sha1.Sum(tarball(pkg))
	return map[string]any{
		"_id": pkg, "name": pkg,
		"dist-tags": map[string]any{"latest": simVersion},
		"versions": map[string]any{simVersion: map[string]any{
			"name": pkg, "version": simVersion,
			"dist": map[string]any{"tarball": base + "/npm/" + feed + "/" + pkg + "/-/" + file, "shasum": hex.EncodeToString(sum[:])},
		}},
		"time": map[string]any{simVersion: "2024-01-15T10:00:00.000Z"},
	}
}

func nugetServiceIndex(base, feed string) map[string]any {
	root := base + "/nuget/" + feed + "/v3/"
	return map[string]any{"version": "3.0.0", "resources": []map[string]any{
		{"@id": root + "registration/", "@type": "RegistrationsBaseUrl/3.6.0"},
		{"@id": root + "flatcontainer/", "@type": "PackageBaseAddress/3.0.0"},
	}}
}

func registration(base, feed, id string) map[string]any {
	lower := strings.ToLower(id)
	index := base + "/nuget/" + feed + "/v3/registration/" + lower + "/index.json"
	return map[string]any{"count": 1, "items": []map[string]any{{
		"@id": index + "#page/" + simVersion + "/" + simVersion, "count": 1, "lower": simVersion, "upper": simVersion,
		"items": []map[string]any{{
			"@id":            base + "/nuget/" + feed + "/v3/registration/" + lower + "/" + simVersion + ".json",
			"catalogEntry":   map[string]any{"id": id, "version": simVersion, "listed": true},
			"packageContent": base + "/nuget/" + feed + "/v3/flatcontainer/" + lower + "/" + simVersion + "/" + lower + "." + simVersion + ".nupkg",
		}},
	}}}
}

func simplePage(pkg string) string {
	name := pypiSeparators.ReplaceAllString(strings.ToLower(pkg), "-")
	file := strings.ReplaceAll(name, "-", "_") + "-" + simVersion + "-py3-none-any.whl"
	return fmt.Sprintf(`<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.0"><title>Links for %[1]s</title></head>
<body><h1>Links for %[1]s</h1>
<a href="../../download/%[1]s/%[2]s/%[3]s#sha256=0f3c8b0e">%[3]s</a><br/>
</body></html>
`, name, simVersion, file)
}

func mavenMetadata(pkg string) string {
	group, artifact, _ := strings.Cut(pkg, ":")
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<metadata><groupId>%s</groupId><artifactId>%s</artifactId><versioning><latest>%[3]s</latest><release>%[3]s</release><versions><version>%[3]s</version></versions><lastUpdated>20240115100000</lastUpdated></versioning></metadata>
`, group, artifact, simVersion)
}

// signInPage is ProGet's own sign-in page, which a browser is sent to.
const signInPage = `<!DOCTYPE html>
<html><head><title>Log In - ProGet</title></head>
<body><form method="post" action="log-in"><label>User name <input type="text" name="UserName"></label>
<label>Password <input type="password" name="Password"></label><button type="submit">Log In</button></form></body></html>
`
