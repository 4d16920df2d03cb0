package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// settle claims the instance's new state (and alert) with a conditional write,
// then delivers its outbox if this run holds the outbox lease.
func (r *Runner) settle(ctx context.Context, log *slog.Logger, t Target, res *result, lease time.Time) {
	defer r.logInstance(log, res)
	now := res.obs.Time
	prev, next := res.prev, res.next
	if res.alert != nil {
		next.Outbox = boundOutbox(append(next.Outbox, *res.alert), maxOutbox)
	}
	// Only the run holding the outbox lease delivers it, so two overlapping runs
	// never both publish; a lease left by a run that died expires with it.
	deliver := len(next.Outbox) > 0 && !prev.OutboxLease.After(now)
	if deliver {
		next.OutboxLease = lease
	}
	ttl := r.StateTTL
	if ttl == 0 {
		ttl = DefaultStateTTL
	}
	if !Equal(prev, next) || prev.ExpiresAt.Sub(now) < ttl/2 {
		next.UpdatedAt, next.ExpiresAt = now, now.Add(ttl)
		v, err := r.Store.Save(ctx, next)
		switch {
		case errors.Is(err, ErrConflict):
			// Another run wrote this instance first; what it decided stands.
			log.Info("instance settled by another run", "instance", t.Name)
			res.conflict = true
			return
		case err != nil:
			// Nothing was claimed: the change is decided again, and alerted, next run.
			res.err = fmt.Errorf("%w; the change will be retried on the next run", err)
			return
		}
		next.Version = v
		res.claimed = res.alert != nil
	}
	if !deliver {
		res.pending = len(next.Outbox)
		return
	}
	var delivered []string
	var pubErr error
	for _, a := range next.Outbox {
		if a.Fleet {
			res.fleet = append(res.fleet, a)
			continue
		}
		if pubErr = r.Publisher.Publish(ctx, a); pubErr != nil {
			break
		}
		delivered = append(delivered, a.ID)
		log.Info("alert published", "instance", a.Instance, "alertId", a.ID, "severity", a.Severity, "changes", len(a.Changes))
	}
	res.published = len(delivered)
	res.pending = len(next.Outbox) - len(delivered) - len(res.fleet)
	if pubErr != nil {
		res.err = fmt.Errorf("%w; the alert stays pending and is sent on the next run", pubErr)
	}
	if len(delivered) > 0 || pubErr != nil {
		res.err = errors.Join(res.err, r.recordDelivered(ctx, t, next, delivered, len(res.fleet) == 0))
	}
	res.next = next
}

// recordDelivered removes delivered alerts from the stored outbox. Another run
// may have written meanwhile (appending its own alert): on a conflict it re-reads
// and retries, removing only what this run delivered. release gives up the lease.
func (r *Runner) recordDelivered(ctx context.Context, t Target, s State, delivered []string, release bool) error {
	for range 3 {
		s.Outbox = without(s.Outbox, delivered)
		if release || len(s.Outbox) == 0 {
			s.OutboxLease = time.Time{}
		}
		_, err := r.Store.Save(ctx, s)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("%w; delivered alerts may be sent once more (same alert-id)", err)
		}
		fresh, err := r.Store.Load(ctx, []string{t.Key})
		if err != nil {
			return err
		}
		s = fresh[t.Key]
	}
	return fmt.Errorf("could not record delivered alerts for %s after 3 attempts", t.Name)
}

// deliverFleet publishes, as one message, every fleet alert this run claimed,
// then records their delivery in each instance's outbox.
func (r *Runner) deliverFleet(ctx context.Context, log *slog.Logger, targets []Target, results []result, checked int, now time.Time) {
	var alerts []Alert
	for _, res := range results {
		alerts = append(alerts, res.fleet...)
	}
	if len(alerts) == 0 {
		return
	}
	fa := NewFleetAlert(alerts, checked, now)
	if err := r.Publisher.PublishFleet(ctx, fa); err != nil {
		err = fmt.Errorf("%w; the fleet alert stays pending and is sent on the next run", err)
		for i := range results {
			if len(results[i].fleet) > 0 {
				results[i].err = errors.Join(results[i].err, err)
				results[i].pending += len(results[i].fleet)
			}
		}
		return
	}
	log.Info("fleet alert published", "alertId", fa.ID, "instances", len(alerts))
	var wg sync.WaitGroup
	for i := range results {
		if len(results[i].fleet) == 0 {
			continue
		}
		results[i].fleetPublished = true
		wg.Go(func() {
			var ids []string
			for _, a := range results[i].fleet {
				ids = append(ids, a.ID)
			}
			if err := r.recordDelivered(ctx, targets[i], results[i].next, ids, true); err != nil {
				results[i].err = errors.Join(results[i].err, err)
			}
		})
	}
	wg.Wait()
}

func without(outbox []Alert, ids []string) []Alert {
	var out []Alert
	for _, a := range outbox {
		found := false
		for _, id := range ids {
			found = found || a.ID == id
		}
		if !found {
			out = append(out, a)
		}
	}
	return out
}

// maxOutbox bounds the alerts an instance keeps undelivered. While SNS keeps
// failing, older alerts are merged rather than dropped, so the stored state
// grows with the changes, not with the alerts, and stays within one item.
const maxOutbox = 10

// boundOutbox merges the oldest alerts until at most max remain.
func boundOutbox(outbox []Alert, max int) []Alert {
	for len(outbox) > max {
		merged := mergeAlerts(outbox[0], outbox[1])
		outbox = append([]Alert{merged}, outbox[2:]...)
	}
	return outbox
}

// mergeAlerts is one alert that tells both, the later one's picture of now.
func mergeAlerts(a, b Alert) Alert {
	m := b
	m.Changes = append(append([]Change(nil), a.Changes...), b.Changes...)
	m.Notices = append(append([]Notice(nil), a.Notices...), b.Notices...)
	m.Severity = severity(m.Changes)
	m.Fleet = a.Fleet && b.Fleet
	h := sha256.Sum256([]byte(a.ID + "+" + b.ID))
	m.ID = hex.EncodeToString(h[:])[:24]
	return m
}
