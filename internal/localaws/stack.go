package localaws

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sivchari/kumo"
)

// Region is the region the local stack pretends to be.
const Region = "us-east-1"

// Backend is the emulator that serves a stack's AWS calls (CloudWatch aside).
type Backend string

const (
	// Kumo is fast and runs in process, but accepts requests AWS rejects.
	Kumo Backend = "kumo"
	// Moto is a shared moto_server process: slower to start, but it rejects
	// what AWS rejects.
	Moto Backend = "moto"
)

// Backends are every backend, for tests that run on each (see Each).
var Backends = []Backend{Kumo, Moto}

// cloudWatch is CloudWatch's SigV4 signing name. Its calls always go to kumo:
// the Go SDK's CloudWatch client speaks Smithy RPC v2 CBOR, which moto 5.2.1
// cannot read.
const cloudWatch = "monitoring"

// Fault decides, per call, whether to disturb it.
type Fault func(op string) Injection

// Injection is what a Fault does to one call: wait Delay, then answer Status
// with the AWS error Code instead of forwarding (Status 0 forwards).
type Injection struct {
	Delay  time.Duration
	Status int
	Code   string
	// Message is the error's text, as AWS words it ("" for a generic one).
	Message string
}

// Fail is an Injection that answers an AWS error.
func Fail(status int, code string) Injection { return Injection{Status: status, Code: code} }

// Stack is an AWS emulator behind a recording proxy: the chosen backend for
// every service but CloudWatch, which kumo serves.
type Stack struct {
	// URL is the proxy's address: point SDK clients (or AWS_ENDPOINT_URL) at it.
	URL string

	backend Backend
	kumo    *kumo.Server
	proxy   *httptest.Server

	mu      sync.Mutex
	calls   map[string]int
	latency time.Duration
	fault   Fault
}

// Start starts a kumo stack. It is StartOn(Kumo), which cannot fail.
func Start() *Stack {
	s, err := StartOn(Kumo)
	if err != nil {
		panic(err) // unreachable: kumo runs in process
	}
	return s
}

// StartOn starts a stack on backend b. A Moto stack starts this process's
// shared moto_server on first use (see Shutdown), and an in-process kumo for
// CloudWatch.
func StartOn(b Backend) (*Stack, error) {
	var backendURL *url.URL
	switch b {
	case Kumo:
	case Moto:
		u, err := motoURL()
		if err != nil {
			return nil, err
		}
		backendURL = u
	default:
		return nil, fmt.Errorf("unknown AWS backend %q (want %q or %q)", b, Kumo, Moto)
	}
	s := &Stack{backend: b, kumo: kumo.NewServer(), calls: map[string]int{}}
	kumoURL, err := url.Parse(s.kumo.URL)
	if err != nil {
		s.kumo.Close()
		return nil, fmt.Errorf("kumo's address %q: %w", s.kumo.URL, err)
	}
	toKumo := reverseProxy(kumoURL)
	toBackend := toKumo
	if backendURL != nil {
		toBackend = reverseProxy(backendURL)
	}
	s.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		op := Operation(r, body)
		s.mu.Lock()
		s.calls[op]++
		latency, fault := s.latency, s.fault
		s.mu.Unlock()
		if latency > 0 {
			time.Sleep(latency)
		}
		if fault != nil {
			inj := fault(op)
			if inj.Delay > 0 {
				select {
				case <-time.After(inj.Delay):
				case <-r.Context().Done():
					return
				}
			}
			if inj.Status != 0 {
				writeFault(w, r, inj)
				return
			}
		}
		if signingName(r) == cloudWatch {
			toKumo.ServeHTTP(w, r)
			return
		}
		toBackend.ServeHTTP(w, r)
	}))
	s.URL = s.proxy.URL
	return s, nil
}

// reverseProxy forwards to target. The Host header stays the proxy's, so that
// the URLs a backend builds from it (SQS queue URLs) lead back through the proxy.
func reverseProxy(target *url.URL) *httputil.ReverseProxy {
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = addCRC32
	return rp
}

// Backend is the emulator that serves the stack's calls other than CloudWatch's.
func (s *Stack) Backend() Backend { return s.backend }

// Close stops the proxy and the stack's kumo (not the shared moto_server).
func (s *Stack) Close() {
	s.proxy.Close()
	s.kumo.Close()
}

// SetLatency adds a delay to every call, as a round trip to a real region would.
func (s *Stack) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetFault installs (or, with nil, removes) a fault injector.
func (s *Stack) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Calls returns how many calls each "service.Operation" received since the last reset.
func (s *Stack) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls zeroes the counters.
func (s *Stack) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// Config returns an SDK configuration that talks to the stack.
func (s *Stack) Config(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		config.WithBaseEndpoint(s.URL),
		// kumo cannot read gzip-compressed requests (PutMetricData over 10 KB).
		config.WithDisableRequestCompression(aws.Bool(true)),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("SDK configuration for the local stack: %w", err)
	}
	return cfg, nil
}

// Env is the environment that points a separate process's SDK at the stack.
// Every service goes to the proxy, which routes as it does for this process.
func (s *Stack) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_DISABLE_REQUEST_COMPRESSION=true",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// addCRC32 adds the checksum header that DynamoDB sends and kumo does not, so
// that the SDK validates responses as it does against AWS (and, finding them
// valid, reuses its connections).
func addCRC32(resp *http.Response) error {
	if resp.Header.Get("X-Amz-Crc32") != "" || !strings.HasPrefix(resp.Request.Header.Get("X-Amz-Target"), "DynamoDB_") {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read a DynamoDB response to checksum it: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return nil
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request`)

// signingName is the service a request was signed for ("dynamodb",
// "monitoring"), from its SigV4 credential scope, or "unknown".
func signingName(r *http.Request) string {
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1]
	}
	return "unknown"
}

// Operation names a call as "service.Operation" from what is on the wire, for
// each protocol the SDK speaks: JSON (X-Amz-Target), Smithy RPC v2 CBOR
// (/service/X/operation/Op) and query (Action=Op in the form).
func Operation(r *http.Request, body []byte) string {
	op := "unknown"
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		t := r.Header.Get("X-Amz-Target")
		op = t[strings.LastIndex(t, ".")+1:]
	case strings.Contains(r.URL.Path, "/operation/"):
		op = r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	default:
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			op = form.Get("Action")
		}
	}
	return signingName(r) + "." + op
}

// FailOn is a Fault that fails every call of one operation ("sns.Publish").
func FailOn(op string, status int, code string) Fault {
	return func(got string) Injection {
		if got == op {
			return Fail(status, code)
		}
		return Injection{}
	}
}
