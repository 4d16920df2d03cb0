package proget_test

import (
	"context"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// witness is a server that must never be reached: it counts connections,
// not only requests, so that a refused dial is told from a refused request.
type witness struct {
	*httptest.Server
	conns, requests atomic.Int64
}

func newWitness(t *testing.T, h http.HandlerFunc) *witness {
	t.Helper()
	w := &witness{}
	w.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.requests.Add(1)
		h(rw, r)
	}))
	w.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			w.conns.Add(1)
		}
	}
	w.Config.ErrorLog = quiet
	w.Start()
	t.Cleanup(w.Close)
	return w
}

func (w *witness) untouched(t *testing.T) {
	t.Helper()
	if c, r := w.conns.Load(), w.requests.Load(); c+r > 0 {
		t.Errorf("the server was reached: %d connections, %d requests", c, r)
	}
}

func hostPort(rawURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
}

// TestRedirectsStayOnTheInstancesHost: redirects are followed only within
// the instance's own host; anywhere else the check ends, unfollowed, naming
// where it pointed.
func TestRedirectsStayOnTheInstancesHost(t *testing.T) {
	in := start(t, progetsim.V2023)
	in.SetConnectors(progetsim.Connector{ID: 1, Name: "npmjs.org", State: "healthy"})
	other := newWitness(t, func(w http.ResponseWriter, r *http.Request) {})
	tlsInstance := httptest.NewTLSServer(in)
	defer tlsInstance.Close()
	tlsInstance.Config.ErrorLog = quiet
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsInstance.Certificate().Raw}))

	const redirectedAway = "Redirected: /health was redirected to %s, %s, which the monitor does not follow: set " + targetKey + "/url to where ProGet answers"
	cases := []struct {
		name     string
		scheme   string                         // of the front server: "http" or "https"
		location func(front, uri string) string // where a request for uri (path and query) goes
		want     string                         // FRONT, OTHER and TLS stand for those servers' URLs
	}{
		{"same host, another path", "http", func(front, uri string) string { return "/moved" + uri },
			"instance=OK database=OK license=OK service=OK connector-health=OK connector:npmjs.org=OK"},
		{"upgrade to HTTPS on the same hostname, another port", "http", func(_, uri string) string { return tlsInstance.URL + uri },
			"instance=OK database=OK license=OK service=OK connector-health=OK connector:npmjs.org=OK"},
		{"another port", "http", func(_, uri string) string { return other.URL + uri },
			fmt.Sprintf(redirectedAway, "OTHER/health", "another port")},
		{"another host", "http", func(_, uri string) string { return "http://proget-new.corp.example" + uri },
			fmt.Sprintf(redirectedAway, "http://proget-new.corp.example/health", "another host")},
		{"down to plain HTTP", "https", func(front, uri string) string { return strings.Replace(front, "https:", "http:", 1) + uri },
			fmt.Sprintf(redirectedAway, "http://"+"FRONTHOST/health", "from HTTPS to plain HTTP")},
		{"not HTTP", "http", func(_, uri string) string { return "ftp://127.0.0.1" + uri },
			fmt.Sprintf(redirectedAway, "ftp://127.0.0.1/health", "not an HTTP address")},
		{"a sign-in proxy, with a token in the query", "http", func(string, string) string {
			return "https://sso.corp.example/login?next=%2Fhealth&state=tok3n-abcdef"
		}, "Redirected: /health was redirected to a sign-in page at https://sso.corp.example/login: is a sign-in proxy in front of ProGet? /health must answer without signing in: exempt it at the proxy, or set " + targetKey + "/url to an address behind the proxy"},
		{"an identity provider", "http", func(string, string) string {
			return "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize?client_id=x"
		}, "Redirected: /health was redirected to a sign-in page at https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize: is a sign-in proxy in front of ProGet? /health must answer without signing in: exempt it at the proxy, or set " + targetKey + "/url to an address behind the proxy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/health" || r.URL.Path == "/api/connector-health/" {
					front := "http://" + r.Host
					if r.TLS != nil {
						front = "https://" + r.Host
					}
					w.Header().Set("Location", tc.location(front, r.URL.RequestURI()))
					w.WriteHeader(http.StatusFound)
					return
				}
				r.URL.Path = strings.TrimPrefix(r.URL.Path, "/moved")
				in.ServeHTTP(w, r)
			})
			var front *httptest.Server
			tg := target("", key)
			if tc.scheme == "https" {
				front = httptest.NewTLSServer(h)
				tg.CABundle = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}))
			} else {
				front = httptest.NewServer(h)
				tg.CABundle = caPEM
			}
			defer front.Close()
			tg.URL = front.URL
			o := proget.New(2*time.Second).Check(context.Background(), tg)
			want := strings.NewReplacer("FRONTHOST", hostPort(front.URL), "OTHER", other.URL).Replace(tc.want)
			if got := summarize(o); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if strings.HasPrefix(want, "Redirected") {
				if o.HTTPStatus != http.StatusFound || o.NetworkFailure || o.ResponseTime <= 0 {
					t.Errorf("HTTP %d, network failure %v, response time %v: the redirect is the answer", o.HTTPStatus, o.NetworkFailure, o.ResponseTime)
				}
				if o.Connectors.Status != monitor.StatusRedirected || !strings.HasPrefix(o.Connectors.Detail, "connector-health was redirected to ") || o.ConnectorsRead {
					t.Errorf("connector-health: %+v read %v", o.Connectors, o.ConnectorsRead)
				}
			}
			other.untouched(t)
		})
	}
}

// TestConnectorHealthRedirects: for connector-health, a redirect elsewhere
// is that component's status, and the API key never leaves the instance's host.
func TestConnectorHealthRedirects(t *testing.T) {
	// The other origin must see no request at all, with the key or without.
	other := newWitness(t, func(http.ResponseWriter, *http.Request) {})
	in := start(t, progetsim.V2023)
	in.SetRedirect("/api/connector-health/", http.StatusTemporaryRedirect, other.URL+"/api/connector-health/")
	o := proget.New(2*time.Second).Check(context.Background(), target(in.URL(), key))
	want := "connector-health was redirected to " + other.URL + "/api/connector-health/, another port, which the monitor does not follow: set " + targetKey + "/url to where ProGet answers"
	if !o.Up() || o.Connectors.Status != monitor.StatusRedirected || o.Connectors.Detail != want || o.ConnectorsRead {
		t.Errorf("got %+v read %v, instance %+v\nwant %s", o.Connectors, o.ConnectorsRead, o.Instance, want)
	}
	other.untouched(t)

	in.SetRedirect("/api/connector-health/", http.StatusFound, "https://corp.okta.com/app/proget/sso/saml")
	o = proget.New(2*time.Second).Check(context.Background(), target(in.URL(), key))
	want = "connector-health was redirected to a sign-in page at https://corp.okta.com/app/proget/sso/saml: is a sign-in proxy in front of ProGet? connector-health must answer with the API key alone: exempt it at the proxy, or set " + targetKey + "/url to an address behind the proxy"
	if o.Connectors.Status != monitor.StatusRedirected || o.Connectors.Detail != want {
		t.Errorf("got  %+v\nwant %s", o.Connectors, want)
	}

	in.SetRedirect("/api/connector-health/", http.StatusFound, "/api/connector-health/")
	o = proget.New(2*time.Second).Check(context.Background(), target(in.URL(), key))
	want = "connector-health was redirected more than 10 times, last to " + in.URL() + "/api/connector-health/: a redirect loop? Check the server or proxy in front of ProGet, and " + targetKey + "/url"
	if o.Connectors.Status != monitor.StatusError || o.Connectors.Detail != want {
		t.Errorf("got  %+v\nwant %s", o.Connectors, want)
	}
	// Followed within the host, the key goes along: ProGet answers.
	in.SetRedirect("/api/connector-health/", http.StatusPermanentRedirect, "/api/connector-health/1")
	in.SetConnectors(progetsim.Connector{ID: 1, Name: "npmjs.org", State: "error", Error: "timeout"})
	o = proget.New(2*time.Second).Check(context.Background(), target(in.URL(), key))
	if o.Connectors.Status != monitor.StatusOK || len(o.ConnectorList) != 1 || o.ConnectorList[0].Status != monitor.StatusError {
		t.Errorf("a redirect within the host: %+v %v", o.Connectors, o.ConnectorList)
	}
}

// TestRedirectLoopStopsAtTen: at most ten redirects are followed.
func TestRedirectLoopStopsAtTen(t *testing.T) {
	in := start(t, progetsim.V2023)
	in.SetRedirect("/health", http.StatusFound, "/health")
	o := proget.New(2*time.Second).Check(context.Background(), target(in.URL(), ""))
	if o.Instance.Status != monitor.StatusDown || o.NetworkFailure {
		t.Errorf("got %+v network %v", o.Instance, o.NetworkFailure)
	}
	if n := len(in.Requests()); n != 11 {
		t.Errorf("%d requests, want the first and 10 redirects", n)
	}
}

// invocationEvent is what the Lambda Runtime API hands the function: taking
// it from there would steal the next event from the monitor.
func invocationEvent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd")
	w.Header().Set("Lambda-Runtime-Deadline-Ms", "1542409706888")
	fmt.Fprint(w, `{"source":"aws.events","detail-type":"Scheduled Event"}`)
}

// TestRedirectToRuntimeAPIIsNeverRequested reproduces a real report: an
// instance whose /health answers 302 to the Lambda Runtime API's
// /invocation/next.
func TestRedirectToRuntimeAPIIsNeverRequested(t *testing.T) {
	runtime := newWitness(t, invocationEvent)
	client := proget.New(2*time.Second, proget.WithRuntimeAPI(hostPort(runtime.URL)))
	const next = "/2018-06-01/runtime/invocation/next"
	for _, loc := range []string{runtime.URL + next, strings.Replace(runtime.URL, "http:", "https:", 1) + next} {
		in := start(t, progetsim.V2023)
		in.SetRedirect("/health", http.StatusFound, loc)
		o := client.Check(context.Background(), target(in.URL(), ""))
		want := "/health was redirected to " + loc + ", the Lambda Runtime API's address, which the monitor never connects to: set " + targetKey + "/url to where ProGet answers"
		if o.Instance.Status != monitor.StatusRedirected || o.Instance.Detail != want {
			t.Errorf("got  %+v\nwant %s", o.Instance, want)
		}
	}
	runtime.untouched(t)

	// The instance's own url may be the address: then it is the instance.
	o := client.Check(context.Background(), target(runtime.URL, ""))
	if runtime.requests.Load() == 0 || o.Instance.Detail != "/health answered HTTP 200 but the JSON object has none of databaseStatus, licenseStatus, serviceStatus" {
		t.Errorf("the configured url must be checked: %+v", o.Instance)
	}
}

// TestRedirectToMetadataIsRefused: instance metadata is never connected to.
func TestRedirectToMetadataIsRefused(t *testing.T) {
	in := start(t, progetsim.V2023)
	in.SetRedirect("/health", http.StatusFound, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
	began := time.Now()
	o := proget.New(5*time.Second).Check(context.Background(), target(in.URL(), ""))
	want := "/health was redirected to http://169.254.169.254/latest/meta-data/iam/security-credentials/, a link-local address, which the monitor never connects to: set " + targetKey + "/url to where ProGet answers"
	if o.Instance.Status != monitor.StatusRedirected || o.Instance.Detail != want {
		t.Errorf("got  %+v\nwant %s", o.Instance, want)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("took %v: no connection should even be tried", d)
	}
}

// fakeDNS answers A queries from records (name -> IPv4) and nothing else.
func fakeDNS(t *testing.T, records map[string]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], records); resp != nil {
				pc.WriteTo(resp, addr)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

func dnsAnswer(q []byte, records map[string]string) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	ip, known := records[strings.ToLower(strings.Join(labels, "."))]
	resp := append([]byte(nil), q[:2]...)
	flags := uint16(0x8180) // a response, recursion desired and available
	if !known {
		flags |= 3 // no such name
	}
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	var answer []byte
	if a := net.ParseIP(ip).To4(); known && qtype == 1 && a != nil {
		answer = append([]byte{0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4}, a...)
	}
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answer)/16))
	resp = append(resp, 0, 0, 0, 0)
	resp = append(resp, q[12:i+5]...)
	return append(resp, answer...)
}

// TestNamesResolvingToSpecialAddressesAreRefused: the check is made when
// connecting, after DNS, so a name is no way around it.
func TestNamesResolvingToSpecialAddressesAreRefused(t *testing.T) {
	in := start(t, progetsim.V2023)
	runtime := newWitness(t, invocationEvent)
	_, port, _ := net.SplitHostPort(hostPort(in.URL()))
	_, runtimePort, _ := net.SplitHostPort(hostPort(runtime.URL))
	resolver := fakeDNS(t, map[string]string{"proget.corp.example": "127.0.0.1", "metadata.corp.example": "169.254.169.254",
		"wildcard.corp.example": "0.0.0.0", "localhost": "127.0.0.1"})
	client := proget.New(5*time.Second, proget.WithResolver(resolver), proget.WithRuntimeAPI(hostPort(runtime.URL)))

	for _, tc := range []struct{ url, want string }{
		{"http://proget.corp.example:" + port, "Down: /health: proget.corp.example resolves to a loopback address (127.0.0.1:" + port + "), which the monitor never connects to (check " + targetKey + "/url and the DNS record)"},
		{"http://metadata.corp.example", "Down: /health: metadata.corp.example resolves to a link-local address (169.254.169.254:80), which the monitor never connects to (check " + targetKey + "/url and the DNS record)"},
		{"http://wildcard.corp.example:" + port, "Down: /health: wildcard.corp.example resolves to an unspecified address (this host) (0.0.0.0:" + port + "), which the monitor never connects to (check " + targetKey + "/url and the DNS record)"},
	} {
		began := time.Now()
		o := client.Check(context.Background(), target(tc.url, key))
		if got := summarize(o); got != tc.want || !o.NetworkFailure {
			t.Errorf("got  %s (network failure %v)\nwant %s", got, o.NetworkFailure, tc.want)
		}
		if !strings.Contains(o.Connectors.Detail, "which the monitor never connects to") {
			t.Errorf("connector-health: %+v", o.Connectors)
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("%s took %v: no connection should even be tried", tc.url, d)
		}
	}
	if got := paths(in); got != "" {
		t.Errorf("the instance was reached by a name that resolves to loopback: %s", got)
	}

	// A url that names loopback itself may use it, but a redirect within
	// its host still cannot reach the Runtime API.
	local := "http://localhost:" + port
	if o := client.Check(context.Background(), target(local, key)); !o.Up() {
		t.Errorf("localhost url: %+v", o.Instance)
	}
	in.SetRedirect("/health", http.StatusFound, "https://localhost:"+runtimePort+"/2018-06-01/runtime/invocation/next")
	o := client.Check(context.Background(), target(local, key))
	want := "/health was redirected to https://localhost:" + runtimePort + "/2018-06-01/runtime/invocation/next, the Lambda Runtime API's address, which the monitor never connects to: set " + targetKey + "/url to where ProGet answers"
	if o.Instance.Status != monitor.StatusRedirected || o.Instance.Detail != want {
		t.Errorf("got  %+v\nwant %s", o.Instance, want)
	}
	runtime.untouched(t)
}
