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

// Fault decides, per call, whether to disturb it.
type Fault func(op string) Injection

// Injection is what a Fault does to one call: wait Delay, then answer Status
// with the AWS error Code instead of forwarding (Status 0 forwards).
type Injection struct {
	Delay  time.Duration
	Status int
	Code   string
}

// Fail is an Injection that answers an AWS error.
func Fail(status int, code string) Injection { return Injection{Status: status, Code: code} }

// Stack is kumo behind a recording proxy.
type Stack struct {
	// URL is the proxy's address: point SDK clients (or AWS_ENDPOINT_URL) at it.
	URL string

	kumo  *kumo.Server
	proxy *httptest.Server

	mu      sync.Mutex
	calls   map[string]int
	latency time.Duration
	fault   Fault
}

// Start starts kumo and the proxy in front of it.
func Start() *Stack {
	s := &Stack{kumo: kumo.NewServer(), calls: map[string]int{}}
	target, _ := url.Parse(s.kumo.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = addCRC32
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
				body := fmt.Sprintf(`{"__type":%q,"message":"injected by the test stack"}`, inj.Code)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Header().Set("X-Amzn-Errortype", inj.Code)
				w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
				w.WriteHeader(inj.Status)
				io.WriteString(w, body)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	s.URL = s.proxy.URL
	return s
}

// Close stops the proxy and kumo.
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
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return nil
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request`)

// Operation names a call as "service.Operation" from what is on the wire, for
// each protocol the SDK speaks: JSON (X-Amz-Target), Smithy RPC v2 CBOR
// (/service/X/operation/Op) and query (Action=Op in the form).
func Operation(r *http.Request, body []byte) string {
	service := "unknown"
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		service = m[1]
	}
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
	return service + "." + op
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
