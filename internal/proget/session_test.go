package proget

import (
	"crypto/tls"
	"testing"
	"time"
)

// A TLS session is resumed for an hour after its full handshake, however
// many tickets resumed connections bring, and never after.
func TestSessionCacheExpires(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	c := newSessionCache(func() time.Time { return now }, time.Hour)
	s := &tls.ClientSessionState{}
	c.Put("proget.example:443", s)
	if got, ok := c.Get("proget.example:443"); !ok || got != s {
		t.Fatalf("a fresh session is not resumed")
	}
	now = now.Add(50 * time.Minute)
	c.Put("proget.example:443", &tls.ClientSessionState{}) // a ticket from a resumed connection
	now = now.Add(20 * time.Minute)
	if _, ok := c.Get("proget.example:443"); ok {
		t.Errorf("a session 70 minutes after its full handshake is still resumed")
	}
	c.Put("proget.example:443", s) // the full handshake that followed
	if _, ok := c.Get("proget.example:443"); !ok {
		t.Errorf("the session of a new full handshake is not resumed")
	}
	c.Put("proget.example:443", nil)
	if _, ok := c.Get("proget.example:443"); ok {
		t.Errorf("a session removed is still resumed")
	}
}
