package proget

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestControlRefusesSpecialAddresses: what the dialer refuses, per address
// and per the instance's own url.
func TestControlRefusesSpecialAddresses(t *testing.T) {
	c := New(time.Second, WithRuntimeAPI("127.0.0.1:9001"))
	cases := []struct {
		url     string // the instance's host and port
		address string // what is dialed, after DNS
		refused string // "" when allowed
	}{
		{"proget.corp.example:443", "10.0.0.5:443", ""},
		{"proget.corp.example:443", "127.0.0.1:443", "a loopback address"},
		{"proget.corp.example:443", "127.9.9.9:443", "a loopback address"},
		{"proget.corp.example:443", "[::1]:443", "a loopback address"},
		{"proget.corp.example:443", "[::ffff:127.0.0.1]:443", "a loopback address"},
		{"proget.corp.example:443", "169.254.169.254:80", "a link-local address"},
		{"proget.corp.example:443", "169.254.170.2:80", "a link-local address"},
		{"proget.corp.example:443", "[fe80::1%eth0]:443", "a link-local address"},
		{"proget.corp.example:443", "0.0.0.0:443", "an unspecified address (this host)"},
		{"proget.corp.example:443", "0.1.2.3:443", "an unspecified address (this host)"},
		{"proget.corp.example:443", "[::]:443", "an unspecified address (this host)"},
		{"proget.corp.example:443", "[fd00:ec2::254]:80", "the EC2 instance metadata address"},
		{"127.0.0.1:8080", "127.0.0.1:8080", ""},
		{"127.0.0.1:8080", "127.0.0.1:8443", ""},
		{"127.0.0.1:8080", "127.0.0.2:8080", "a loopback address"},
		{"127.0.0.1:8080", "127.0.0.1:9001", "the Lambda Runtime API's address"},
		{"127.0.0.1:9001", "127.0.0.1:9001", ""},
		{"[::1]:8080", "[::1]:8080", ""},
		{"localhost:8080", "127.0.0.1:8080", ""},
		{"localhost:8080", "[::1]:8080", ""},
		{"localhost:8080", "127.0.0.1:9001", "the Lambda Runtime API's address"},
		{"proget.localhost:8080", "127.0.0.1:8080", ""},
		{"169.254.10.10:80", "169.254.10.10:80", ""},
	}
	for _, tc := range cases {
		host, port, _ := net.SplitHostPort(tc.url)
		n, _ := strconv.ParseUint(port, 10, 16)
		ctx := context.WithValue(context.Background(), policyKey{}, policyFor(host, uint16(n)))
		err := c.control(ctx, "tcp", tc.address, nil)
		var refused errRefusedAddress
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s dialing %s: %v, want it allowed", tc.url, tc.address, err)
		case tc.refused != "" && (!errors.As(err, &refused) || refused.what != tc.refused):
			t.Errorf("%s dialing %s: %v, want %s", tc.url, tc.address, err, tc.refused)
		}
	}
	// Without a policy (a dial the monitor did not ask for), nothing special is allowed.
	if err := c.control(context.Background(), "tcp", "127.0.0.1:80", nil); err == nil {
		t.Error("a dial without a policy reached loopback")
	}
	// localhost:port names the Runtime API too.
	c = New(time.Second, WithRuntimeAPI("localhost:9001"))
	ctx := context.WithValue(context.Background(), policyKey{}, policyFor("127.0.0.1", 8080))
	if err := c.control(ctx, "tcp", "[::1]:9001", nil); err == nil {
		t.Error("localhost:9001 as the Runtime API must refuse [::1]:9001")
	}
}
