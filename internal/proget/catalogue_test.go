package proget_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
)

// testCA is a private certificate authority for TLS cases.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Corp Internal CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// server starts an HTTPS server with a leaf certificate from this CA.
func (ca *testCA) server(t *testing.T, h http.Handler, host string, notAfter time.Time) *httptest.Server {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(host); ip != nil {
		tpl.IPAddresses = []net.IP{ip}
	} else {
		tpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = quiet // handshake failures are what these cases are about
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var quiet = log.New(io.Discard, "", 0)

var healthyJSON = `{"databaseStatus":"OK","licenseStatus":"OK","serviceStatus":"OK"}`

func healthy(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, healthyJSON) }

func TestTLSFailures(t *testing.T) {
	ca := newCA(t)
	client := proget.New(2 * time.Second)
	expired := time.Now().Add(-time.Hour)
	selfSigned := httptest.NewUnstartedServer(http.HandlerFunc(healthy))
	selfSigned.Config.ErrorLog = quiet
	selfSigned.StartTLS()
	defer selfSigned.Close()
	cases := []struct {
		name string
		url  string
		ca   string
		want string
	}{
		{"self-signed", selfSigned.URL, "", "Down: /health: TLS: the certificate is signed by an unknown authority (trust it with /proget-monitor/targets/prod-eu/ca-bundle)"},
		{"internal CA not trusted", ca.server(t, http.HandlerFunc(healthy), "127.0.0.1", time.Now().Add(time.Hour)).URL, "",
			"Down: /health: TLS: the certificate is signed by an unknown authority (trust it with /proget-monitor/targets/prod-eu/ca-bundle)"},
		{"internal CA trusted by ca-bundle", ca.server(t, http.HandlerFunc(healthy), "127.0.0.1", time.Now().Add(time.Hour)).URL, ca.pem,
			"instance=OK database=OK license=OK service=OK connector-health=NotConfigured"},
		{"expired", ca.server(t, http.HandlerFunc(healthy), "127.0.0.1", expired).URL, ca.pem,
			"Down: /health: TLS: the certificate expired on " + expired.UTC().Format(time.DateOnly) + " (renew it)"},
		{"wrong host", ca.server(t, http.HandlerFunc(healthy), "proget.other.example", time.Now().Add(time.Hour)).URL, ca.pem,
			"Down: /health: TLS: the certificate is not valid for 127.0.0.1"},
		{"plain http on a TLS url", strings.Replace(httptest.NewServer(http.HandlerFunc(healthy)).URL, "http:", "https:", 1), "",
			"Down: /health: TLS: the server did not answer with TLS (is the url's scheme right?)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := target(tc.url, "")
			tg.CABundle = tc.ca
			if got := summarize(client.Check(context.Background(), tg)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNetworkFailures(t *testing.T) {
	o := proget.New(2*time.Second).Check(context.Background(), target("https://proget.invalid", ""))
	if got := summarize(o); !o.NetworkFailure || got != "Down: /health: DNS lookup of proget.invalid failed" {
		t.Errorf("DNS failure: network=%v %s", o.NetworkFailure, got)
	}
	for _, bad := range []string{"ftp://proget.example", "proget.example", "http://"} {
		o := proget.New(time.Second).Check(context.Background(), target(bad, key))
		if got := summarize(o); got != "Down: the url is not an http or https URL: check "+targetKey+"/url" || o.NetworkFailure {
			t.Errorf("%q: %s", bad, got)
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // accept, then hang up without a word
		}
	}()
	defer ln.Close()
	o = proget.New(2*time.Second).Check(context.Background(), target("http://"+ln.Addr().String(), ""))
	if got := summarize(o); !o.NetworkFailure || got != "Down: /health: the connection was closed before a full answer" {
		t.Errorf("hang-up: network=%v %s", o.NetworkFailure, got)
	}
}

// TestHTTPStatusCatalogue: every status other than 200 and ProGet's JSON 500 is Down,
// with the status and a short idea of the body; 404 means there is no /health
// to watch there.
func TestHTTPStatusCatalogue(t *testing.T) {
	client := proget.New(2 * time.Second)
	for _, code := range []int{401, 403, 404, 429, 500, 502, 503} {
		for _, body := range []string{"", "upstream said no", "<html><head><title>Gateway</title></head></html>"} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
				fmt.Fprint(w, body)
			}))
			o := client.Check(context.Background(), target(srv.URL, ""))
			srv.Close()
			want := fmt.Sprintf("Down: /health answered HTTP %d %s", code, http.StatusText(code))
			switch {
			case code == 404:
				want = "NoHealthAPI: /health answered 404: ProGet older than 5.2.9 has no health endpoint, or the url is not ProGet's root (check " + targetKey + "/url)"
			case strings.HasPrefix(body, "<html"):
				want += `: an HTML page titled "Gateway"`
			case body != "":
				want += `: "upstream said no"`
			}
			if got := summarize(o); o.NetworkFailure || got != want || o.HTTPStatus != code {
				t.Errorf("%d %q: network=%v\ngot  %s\nwant %s", code, body, o.NetworkFailure, got, want)
			}
		}
	}
}

// TestConnectorAnswerCatalogue: what connector-health answers, and what it becomes.
func TestConnectorAnswerCatalogue(t *testing.T) {
	var many strings.Builder
	many.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			many.WriteString(",")
		}
		state := "healthy"
		if i == 4321 {
			state = "error"
		}
		fmt.Fprintf(&many, `{"id":%d,"name":"feed-%04d","state":%q}`, i, i, state)
	}
	many.WriteString("]")
	cases := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"401", 401, "", "Rejected"},
		{"403 empty", 403, "", "Rejected"},
		{"404 list", 404, "<html></html>", "Unsupported"},
		{"429", 429, "slow down", `Error connector-health answered HTTP 429 Too Many Requests: "slow down"`},
		{"500 trace", 500, "System.InvalidOperationException: boom\n   at X.Y()", `Error connector-health answered HTTP 500 Internal Server Error: "System.InvalidOperationException: boom"`},
		{"html login", 200, "<!DOCTYPE html><title>SSO</title>", `Error connector-health answered HTTP 200 but the body is not JSON: an HTML page titled "SSO"`},
		{"wrong shape", 200, `{"connectors": 5}`, "OK 1"},
		{"nulls everywhere", 200, `[{"id":null,"name":null,"state":null,"errorMessage":null}]`, "OK 1"},
		{"numbers for strings", 200, `[{"id":1,"name":42,"state":7}]`, "OK 1"},
		{"invalid utf-8 in a string", 200, "[{\"name\":\"caf\xe9\",\"state\":\"healthy\"}]", "OK 1"},
		{"binary", 200, "\x00\xff\xfe\x01", "Error connector-health answered HTTP 200 but the body is not JSON: binary or non-UTF-8 data"},
		{"enormous list: every connector, the cap is the decision's", 200, many.String(), "OK 5000"},
		{"duplicate names", 200, `[{"id":1,"name":"npm","state":"healthy"},{"id":2,"name":"npm","state":"error"}]`, "OK 2"},
	}
	client := proget.New(2 * time.Second)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/health" {
					healthy(w, r)
					return
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			o := client.Check(context.Background(), target(srv.URL, key))
			got := string(o.Connectors.Status)
			switch o.Connectors.Status {
			case monitor.StatusOK:
				got += fmt.Sprintf(" %d", len(o.ConnectorList))
			case monitor.StatusError:
				got += " " + o.Connectors.Detail
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if len(o.ConnectorList) == 5000 {
				if c := o.ConnectorList[4321]; c.Component != "connector:feed-4321" || c.Status != monitor.StatusError {
					t.Errorf("the list must come in ProGet's order, with its states: %+v", c)
				}
			}
			names := map[string]bool{}
			for _, c := range o.ConnectorList {
				if !utf8.ValidString(c.Component) {
					t.Errorf("component %q is not valid UTF-8", c.Component)
				}
				if names[c.Component] {
					t.Errorf("two connectors share the component %q", c.Component)
				}
				names[c.Component] = true
			}
		})
	}
}
