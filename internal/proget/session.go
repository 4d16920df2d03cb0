package proget

import (
	"crypto/tls"
	"sync"
	"time"
)

// sessionMaxAge bounds how long a TLS session is resumed. Resuming skips the
// full handshake (key exchange and certificate verification, most of a
// check's CPU on https) on the runs of the next hour; a resumed connection
// shows the certificate of the session's first handshake, so a renewed
// certificate is seen within the hour.
const sessionMaxAge = time.Hour

// sessionCache is a TLS client session cache whose entries expire.
type sessionCache struct {
	mu     sync.Mutex
	inner  tls.ClientSessionCache
	stored map[string]time.Time
	maxAge time.Duration
	now    func() time.Time
}

func newSessionCache(now func() time.Time, maxAge time.Duration) *sessionCache {
	return &sessionCache{inner: tls.NewLRUClientSessionCache(4096), stored: map[string]time.Time{}, maxAge: maxAge, now: now}
}

func (c *sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.stored[key]
	if !ok || c.now().Sub(at) > c.maxAge {
		return nil, false
	}
	return c.inner.Get(key)
}

func (c *sessionCache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs == nil {
		delete(c.stored, key)
	} else if _, ok := c.stored[key]; !ok || c.now().Sub(c.stored[key]) > c.maxAge {
		// A session stays as old as its first handshake: tickets that a
		// resumed connection brings do not renew it.
		c.stored[key] = c.now()
	}
	c.inner.Put(key, cs)
}
