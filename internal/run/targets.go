package run

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// targetsCache keeps what a path held in SSM, with the targets marker read
// just before: while the marker in the state table stays the same, nothing
// under the path changed, and a run needs no SSM (and no KMS) call. SSM's
// change events move the marker (see the template's rule); the TTL is the
// safety net for a change whose event was lost.
type targetsCache struct {
	mu      sync.Mutex
	entries map[string]cachedTargets
}

type cachedTargets struct {
	listing monitor.Listing
	marker  string
	at      time.Time
}

func (c *targetsCache) get(path string, now time.Time, ttl time.Duration) (cachedTargets, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	return e, ok && ttl > 0 && now.Sub(e.at) < ttl
}

func (c *targetsCache) put(path string, e cachedTargets) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedTargets{}
	}
	c.entries[path] = e
}

// listing returns the targets of path: from the cache while it is fresh, else
// read from SSM after the marker, so that a change made while SSM is read is
// seen by the next run. cached tells which.
func (r *Runner) listing(ctx context.Context, path string, now time.Time) (cachedTargets, bool, error) {
	if e, ok := r.cache.get(path, now, r.TargetsTTL); ok {
		return e, true, nil
	}
	e, err := r.readTargets(ctx, path, now)
	return e, false, err
}

func (r *Runner) readTargets(ctx context.Context, path string, now time.Time) (cachedTargets, error) {
	var marker string
	if r.TargetsTTL > 0 {
		var err error
		if marker, err = r.States.Marker(ctx); err != nil {
			return cachedTargets{}, fmt.Errorf("read the targets marker: %w", err)
		}
	}
	l, err := r.Targets.Load(ctx, path)
	if err != nil {
		return cachedTargets{}, err
	}
	e := cachedTargets{listing: l, marker: marker, at: now}
	if r.TargetsTTL > 0 {
		r.cache.put(path, e)
	}
	return e, nil
}

// diff is how a fresh listing differs from the one a run started with:
// targets to check that were not checked as they are now, and keys to drop.
func diff(old, fresh []monitor.Target) (changed []monitor.Target, gone map[string]bool) {
	before := make(map[string]monitor.Target, len(old))
	for _, t := range old {
		before[t.Key] = t
	}
	gone = make(map[string]bool)
	for _, t := range old {
		gone[t.Key] = true
	}
	for _, t := range fresh {
		delete(gone, t.Key)
		if prev, ok := before[t.Key]; !ok || !reflect.DeepEqual(prev, t) {
			changed = append(changed, t)
		}
	}
	return changed, gone
}
