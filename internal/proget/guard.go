package proget

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// The monitor runs beside things no instance may make it reach: the Lambda
// Runtime API (a request to its /invocation/next takes the next event away
// from the function) and, elsewhere, instance metadata and local services.
// Addresses are checked when a connection is made, after DNS, so that a name
// that resolves to one is refused too; the instance's own url may still be
// such an address (a simulator or a tunnel on loopback).

// policy is what one target may connect to, carried in the request's context
// to the dialer.
type policy struct {
	own       netip.Addr // the url's host, when it is an IP address
	ownPort   uint16
	localhost bool // the url's host is localhost: loopback is its own
}

type policyKey struct{}

func policyFor(host string, port uint16) policy {
	p := policy{ownPort: port}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		p.own = a.WithZone("").Unmap()
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	p.localhost = h == "localhost" || strings.HasSuffix(h, ".localhost")
	return p
}

// runtimeAPI is the Lambda Runtime API's address.
type runtimeAPI struct {
	addr         netip.Addr // invalid: any loopback address (localhost:port)
	port         uint16
	set, anyLoop bool
}

func parseRuntimeAPI(s string) runtimeAPI {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return runtimeAPI{addr: ap.Addr().WithZone("").Unmap(), port: ap.Port(), set: true}
	}
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || !strings.EqualFold(host, "localhost") {
		return runtimeAPI{}
	}
	return runtimeAPI{port: uint16(n), set: true, anyLoop: true}
}

func (r runtimeAPI) is(a netip.Addr, port uint16) bool {
	return r.set && port == r.port && (a == r.addr || r.anyLoop && a.IsLoopback())
}

// errRefusedAddress is a connection the monitor would not make.
type errRefusedAddress struct {
	addr netip.AddrPort
	what string // "a loopback address"
}

func (e errRefusedAddress) Error() string {
	return fmt.Sprintf("%s is %s, which the monitor never connects to", e.addr, e.what)
}

// specialAddress names what an address is when no instance may make the
// monitor connect to it, or returns "".
func specialAddress(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsUnspecified(), a.Is4() && a.As4()[0] == 0:
		return "an unspecified address (this host)"
	case a == ec2MetadataV6:
		return "the EC2 instance metadata address"
	}
	return ""
}

// ec2MetadataV6 is instance metadata over IPv6: not link-local, unlike 169.254.169.254.
var ec2MetadataV6 = netip.MustParseAddr("fd00:ec2::254")

// control refuses a connection to an address the target may not reach. It
// runs after DNS and before connect, for every address tried.
func (c *Client) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: not an IP address and port", address)
	}
	a := ap.Addr().WithZone("").Unmap()
	p, _ := ctx.Value(policyKey{}).(policy) // none: the strictest policy
	if what := c.forbidden(a, ap.Port(), p); what != "" {
		return errRefusedAddress{netip.AddrPortFrom(a, ap.Port()), what}
	}
	return nil
}

// forbidden names what an address is when a check may not connect to it (the
// Runtime API, loopback, link-local and the like, unless the instance's own
// url names it), or returns "". The dialer and the redirect check share it.
func (c *Client) forbidden(a netip.Addr, port uint16, p policy) string {
	a = a.WithZone("").Unmap()
	own := (a == p.own || p.localhost && a.IsLoopback()) && port == p.ownPort
	if c.runtime.is(a, port) && !own {
		return "the Lambda Runtime API's address"
	}
	if what := specialAddress(a); what != "" && a != p.own && !(p.localhost && a.IsLoopback()) {
		return what
	}
	return ""
}
