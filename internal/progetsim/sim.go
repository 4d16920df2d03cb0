package progetsim

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Generation is a ProGet release line whose health endpoints behave alike.
type Generation string

const (
	// V5Legacy is ProGet 5.2 before 5.2.9: no /health at all (404), but
	// connector-health exists.
	V5Legacy Generation = "5.2"
	V5       Generation = "5"    // /health always 200; extensionsInstalled is a list
	V2023    Generation = "2023" // /health always 200; connector-health exists
	V2024    Generation = "2024" // /health 500 when unhealthy; connector-health removed
	V2026    Generation = "2026" // /health plain text; JSON at /health/json and ?format=json
	// V2026Early is a 2026 build from before ?format=json was added: /health
	// answers plain text whatever the query, JSON only at /health/json.
	V2026Early Generation = "2026-early"
)

// Other Inedo products serve the same /health shape with their own
// applicationName; BuildMaster also adds instanceName.
const (
	ProductProGet      = "ProGet"
	ProductBuildMaster = "BuildMaster"
	ProductOtter       = "Otter"
)

// Connector is one upstream feed connector.
type Connector struct {
	ID    int
	Name  string
	URL   string
	State string // "healthy", "error", "unhealthy" or "unknown", as ProGet spells it
	Error string
	// Typo spells the error field "erroMessage", as ProGet's documentation does.
	Typo bool
}

// Request is what the simulator received, for tests that check what was sent.
// URL is relative to where the instance is mounted.
type Request struct {
	Method string
	URL    string
	Header http.Header
}

type redirect struct {
	code     int
	location string
}

// Instance is one simulated ProGet server: on its own loopback port, or
// mounted under a path of a Host.
type Instance struct {
	gen Generation
	srv server

	mu                sync.Mutex
	apiKey            string
	database, license string // error text; empty means OK
	service           string
	replServer        *string // nil: replication not configured; "" OK
	replClient        *string
	connectors        []Connector
	crash             string // an unexpected error: 500 with a message and stack trace
	latency           time.Duration
	pascal            bool
	release           string   // overrides the generation's releaseNumber when set
	extensions        []string // added to the generation's extensions
	product, name     string   // applicationName (empty: ProGet) and instanceName
	redirects         map[string]redirect
	requests          []Request
	host              *Host // set when mounted
	prefix            string
	stopped           bool             // a mounted instance that is stopped: its host answers 502
	feeds             map[string]*feed // by lower-case name
	clock             func() time.Time
	ca                *authority
	cert              *tls.Certificate
	tlsConfig         *tls.Config
}

// New returns a stopped instance of the generation, healthy, with no connectors.
func New(gen Generation) *Instance { return &Instance{gen: gen} }

// Start listens on loopback: on a new port the first time, and on the same port
// after Stop, so that a stopped instance comes back at its URL. A mounted
// instance starts answering behind its host again.
func (in *Instance) Start() error {
	in.mu.Lock()
	if in.host != nil {
		in.stopped = false
		in.mu.Unlock()
		return nil
	}
	in.mu.Unlock()
	return in.srv.start(in, "simulated ProGet "+string(in.gen))
}

// Stop closes the listener and every connection: the instance refuses
// connections. A mounted instance stops answering and its host, as a reverse
// proxy would, answers 502 Bad Gateway for it.
func (in *Instance) Stop() {
	in.mu.Lock()
	if in.host != nil {
		in.stopped = true
		in.mu.Unlock()
		return
	}
	in.mu.Unlock()
	in.srv.stop()
}

// URL is the instance's base URL: its host's URL and path when mounted.
func (in *Instance) URL() string {
	in.mu.Lock()
	host, prefix := in.host, in.prefix
	in.mu.Unlock()
	if host != nil {
		return host.URL() + prefix
	}
	return in.srv.url()
}

// Generation tells which ProGet line the instance simulates.
func (in *Instance) Generation() Generation { return in.gen }

func (in *Instance) update(f func()) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f()
}

// SetAPIKey sets the key that connector-health accepts.
func (in *Instance) SetAPIKey(k string) { in.update(func() { in.apiKey = k }) }

// SetDatabaseError makes the database Error with the message; "" makes it OK.
func (in *Instance) SetDatabaseError(msg string) { in.update(func() { in.database = msg }) }

// SetLicenseError makes the license Error with the message; "" makes it OK.
func (in *Instance) SetLicenseError(msg string) { in.update(func() { in.license = msg }) }

// SetServiceError makes the service Error with the message; "" makes it OK.
func (in *Instance) SetServiceError(msg string) { in.update(func() { in.service = msg }) }

// SetReplication configures replication: nil is not configured, "" is OK, text is an error.
func (in *Instance) SetReplication(server, client *string) {
	in.update(func() { in.replServer, in.replClient = server, client })
}

// SetConnectors replaces the connector list.
func (in *Instance) SetConnectors(cs ...Connector) {
	in.update(func() { in.connectors = append([]Connector(nil), cs...) })
}

// SetConnectorState changes one connector's state and error text.
func (in *Instance) SetConnectorState(name, state, msg string) {
	in.update(func() {
		for i := range in.connectors {
			if in.connectors[i].Name == name {
				in.connectors[i].State, in.connectors[i].Error = state, msg
			}
		}
	})
}

// SetCrash makes every endpoint fail with an unexpected error; "" clears it.
func (in *Instance) SetCrash(msg string) { in.update(func() { in.crash = msg }) }

// SetLatency delays every answer.
func (in *Instance) SetLatency(d time.Duration) { in.update(func() { in.latency = d }) }

// SetPascalCase spells field names as older documentation does (DatabaseStatus).
func (in *Instance) SetPascalCase(on bool) { in.update(func() { in.pascal = on }) }

// SetRelease makes the instance report another release, as after an upgrade.
func (in *Instance) SetRelease(r string) { in.update(func() { in.release = r }) }

// AddExtension installs an extension (name and version).
func (in *Instance) AddExtension(name, version string) {
	in.update(func() { in.extensions = append(in.extensions, name+"\x00"+version) })
}

// SetProduct makes the server another Inedo product (ProductBuildMaster,
// ProductOtter): /health names it in applicationName, with instanceName when
// instance is not empty (BuildMaster's), and there is no connector-health.
// "" or ProductProGet makes it ProGet again.
func (in *Instance) SetProduct(name, instance string) {
	in.update(func() { in.product, in.name = name, instance })
}

// SetRedirect makes path (relative to the instance, such as "/health")
// answer code (301, 302, 303, 307 or 308) with location as the Location
// header, verbatim, whatever the query; an empty location removes it.
func (in *Instance) SetRedirect(path string, code int, location string) {
	in.update(func() {
		p := routePath(path)
		if location == "" {
			delete(in.redirects, p)
			return
		}
		if in.redirects == nil {
			in.redirects = map[string]redirect{}
		}
		in.redirects[p] = redirect{code, location}
	})
}

// Requests returns what the instance received so far.
func (in *Instance) Requests() []Request {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Request(nil), in.requests...)
}

func (in *Instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.serve(w, r, r.URL.Path)
}

// routePath is how paths are compared: without a trailing slash.
func routePath(p string) string {
	if p = strings.TrimSuffix(p, "/"); p == "" {
		return "/"
	}
	return p
}

// serve answers a request for path, relative to where the instance is.
func (in *Instance) serve(w http.ResponseWriter, r *http.Request, path string) {
	u := path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	in.mu.Lock()
	in.requests = append(in.requests, Request{Method: r.Method, URL: u, Header: r.Header.Clone()})
	latency := in.latency
	in.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	in.mu.Lock()
	p := routePath(path)
	if rd, ok := in.redirects[p]; ok {
		in.mu.Unlock()
		w.Header().Set("Location", rd.location)
		w.WriteHeader(rd.code)
		return
	}
	if req, ok := parseFeedPath(path); ok {
		rp := in.serveFeed(r, req, path)
		in.mu.Unlock()
		rp.write(w, r) // after the lock: a slow upstream holds up nothing else
		return
	}
	defer in.mu.Unlock()
	switch {
	case p == "/log-in":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, signInPage)
	case p == "/health" && in.gen != V5Legacy:
		in.serveHealth(w, r.URL.Query().Get("format") == "json" && in.gen != V2026Early)
	case p == "/health/json" && (in.gen == V2026 || in.gen == V2026Early):
		in.serveHealth(w, true)
	case p == "/api/connector-health" || strings.HasPrefix(p, "/api/connector-health/"):
		in.serveConnectors(w, r, strings.TrimPrefix(strings.TrimPrefix(p, "/api/connector-health"), "/"))
	default:
		notFound(w)
	}
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Not Found - ProGet</title></head><body><h1>404</h1></body></html>")
}

const stackTrace = "\n   at Inedo.ProGet.WebApplication.SimpleHandlers.HealthHandler.ProcessRequestAsync(AhHttpContext context)\n   at Inedo.Web.Handlers.AhHttpHandler.ProcessRequestAsync(AhHttpContext context)\n"

func (in *Instance) healthy() bool {
	bad := func(p *string) bool { return p != nil && *p != "" }
	return in.database == "" && in.license == "" && in.service == "" && !bad(in.replServer) && !bad(in.replClient)
}

func (in *Instance) serveHealth(w http.ResponseWriter, wantJSON bool) {
	if in.crash != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, in.crash+stackTrace)
		return
	}
	plain := in.gen == V2026 || in.gen == V2026Early
	if plain && !wantJSON {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !in.healthy() {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, in.problemText())
			return
		}
		fmt.Fprint(w, "OK")
		return
	}
	status := http.StatusOK
	if (in.gen == V2024 || plain) && !in.healthy() {
		status = http.StatusInternalServerError // 2024+: the same JSON, with a 500
	}
	in.writeJSON(w, status, in.healthDoc())
}

func (in *Instance) problemText() string {
	var parts []string
	for _, p := range []struct{ name, msg string }{{"Database", in.database}, {"License", in.license}, {"Service", in.service}} {
		if p.msg != "" {
			parts = append(parts, p.name+": "+p.msg)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "Replication: error")
	}
	return strings.Join(parts, "; ")
}

func statusOf(msg string) (string, any) {
	if msg == "" {
		return "OK", nil
	}
	return "Error", msg
}

// versions are the versionNumber and releaseNumber each generation reports.
var versions = map[Generation][2]string{
	V5: {"5.2.9.10", "5.2.9"}, V2023: {"2023.27 (Build 5)", "23.0.27"},
	V2024: {"2024.22 (Build 3)", "24.0.22"}, V2026: {"2026.3 (Build 1)", "26.0.3"},
	V2026Early: {"2026.0 (Build 12)", "26.0.0"},
}

func (in *Instance) healthDoc() map[string]any {
	db, dbDetail := statusOf(in.database)
	lic, licDetail := statusOf(in.license)
	svc, svcDetail := statusOf(in.service)
	repl := func(p *string) (any, any) {
		if p == nil {
			return nil, nil
		}
		return statusOf(*p)
	}
	srv, srvErr := repl(in.replServer)
	cli, cliErr := repl(in.replClient)
	version, release := versions[in.gen][0], versions[in.gen][1]
	if in.release != "" {
		version, release = in.release, in.release
	}
	extMap := map[string]string{"ProGetCoreEx": release, "Inedo.SDK": "2.3.0", "InedoCore": "2.3.2"}
	extList := []string{"Inedo SDK 1.3.1", "InedoCore 1.0.6"}
	for _, e := range in.extensions {
		name, v, _ := strings.Cut(e, "\x00")
		extMap[name] = v
		extList = append(extList, name+" "+v)
	}
	var extensions any = extMap
	if in.gen == V5 {
		extensions = extList
	}
	doc := map[string]any{
		"applicationName":       in.productName(),
		"databaseStatus":        db,
		"databaseStatusDetails": dbDetail,
		"extensionsInstalled":   extensions,
		"licenseStatus":         lic,
		"licenseStatusDetail":   licDetail,
		"versionNumber":         version,
		"releaseNumber":         release,
		"serviceStatus":         svc,
		"serviceStatusDetail":   svcDetail,
		"replicationStatus": map[string]any{
			"serverStatus": srv, "serverError": srvErr,
			"clientStatus": cli, "clientError": cliErr,
			"incoming": []any{}, "outgoing": []any{},
		},
	}
	if in.gen == V5 {
		// The 5.2.9 document reports no database, and replication joined the
		// health API only in 2023.
		delete(doc, "databaseStatus")
		delete(doc, "databaseStatusDetails")
		delete(doc, "replicationStatus")
	}
	if in.name != "" {
		doc["instanceName"] = in.name
	}
	return doc
}

func (in *Instance) productName() string {
	if in.product == "" {
		return ProductProGet
	}
	return in.product
}

func (in *Instance) serveConnectors(w http.ResponseWriter, r *http.Request, id string) {
	if in.gen == V2024 || in.gen == V2026 || in.gen == V2026Early || in.productName() != ProductProGet {
		notFound(w) // removed in ProGet 2024; never in BuildMaster or Otter
		return
	}
	if in.crash != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, in.crash+stackTrace)
		return
	}
	if in.apiKey == "" || keyOf(r) != in.apiKey {
		w.WriteHeader(http.StatusForbidden) // empty body, as documented
		return
	}
	if id == "" {
		docs := make([]map[string]any, 0, len(in.connectors))
		for _, c := range in.connectors {
			docs = append(docs, connectorDoc(c))
		}
		in.writeJSON(w, http.StatusOK, docs)
		return
	}
	for _, c := range in.connectors {
		if strconv.Itoa(c.ID) == id {
			in.writeJSON(w, http.StatusOK, connectorDoc(c))
			return
		}
	}
	notFound(w)
}

// keyOf reads the API key the three ways ProGet accepts it.
func keyOf(r *http.Request) string {
	if k := r.Header.Get("X-ApiKey"); k != "" {
		return k
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	if user, pass, ok := r.BasicAuth(); ok && user == "api" {
		return pass
	}
	return ""
}

func connectorDoc(c Connector) map[string]any {
	d := map[string]any{"id": c.ID, "name": c.Name, "url": c.URL, "state": c.State}
	if c.State == "unknown" {
		d["lastChecked"] = nil
	} else {
		d["lastChecked"] = "2026-11-24T17:41:55.05+00:00"
	}
	if c.Error != "" {
		field := "errorMessage"
		if c.Typo {
			field = "erroMessage"
		}
		d[field] = c.Error
	}
	return d
}

func (in *Instance) writeJSON(w http.ResponseWriter, status int, v any) {
	if in.pascal {
		v = pascalCase(v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func pascalCase(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			r := []rune(k)
			r[0] = unicode.ToUpper(r[0])
			out[string(r)] = pascalCase(x)
		}
		return out
	case []map[string]any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = pascalCase(x)
		}
		return out
	}
	return v
}
