package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/render"
)

// The adapters delivery needs, declared here where they are used.
type (
	// Store remembers instances between runs. Save writes only if the stored
	// version is still s.Version, and returns the new version or
	// monitor.ErrConflict.
	Store interface {
		Load(ctx context.Context, keys []string) (map[string]monitor.State, error)
		Save(ctx context.Context, s monitor.State) (int64, error)
	}
	// Publisher sends one rendered message to an audience's topic.
	Publisher interface {
		Publish(ctx context.Context, audience string, m render.Message) error
	}
)

// A Publisher's error may say what SNS did with the message. Errors that do
// not are taken as "it may have been published".
type rejection interface {
	// Invalid: SNS refused the message itself (too long, bad content), so
	// sending it again unchanged cannot work.
	Invalid() bool
	// NotAccepted: SNS surely did not take it (it answered with a refusal,
	// or no connection was made).
	NotAccepted() bool
}

// Audience is one topic and the format its subscribers read.
type Audience struct {
	Name   string
	Format render.Format
}

// Outbox delivers the alerts of a run.
type Outbox struct {
	Store     Store
	Publisher Publisher
	Audiences []Audience
	// StateTTL is how long an instance's state outlives its last write; it is
	// refreshed once less than half of it is left.
	StateTTL time.Duration
	// Concurrency bounds the instances written and published at once.
	Concurrency int
}

// Item is one instance's outcome of a run, to be claimed and delivered.
type Item struct {
	Target monitor.Target
	Prev   monitor.State // as read at the start of the run
	Next   monitor.State // as decided
	Alert  *monitor.Alert
	// Fleet is the fleet message the alert is delivered in ("": on its own),
	// FleetSize how many instances it was made for, Checked how many
	// instances the grouping run checked, and Note what it knew of the
	// likeliest cause.
	Fleet     string
	FleetSize int
	Checked   int
	Note      string
}

// Result is what happened to one item.
type Result struct {
	State    monitor.State // as stored (or as it would have been, on failure)
	Claimed  bool          // this run stored a new alert for the instance
	Conflict bool          // another run wrote the instance first; what it decided stands
	// Published counts the instance's own alerts that went out; fleet
	// messages are counted in Report.Fleets.
	Published int
	Pending   int // alerts left in the outbox for a later run
	// Merged counts alerts that had to be merged although they may have
	// been published: subscribers may see their changes twice.
	Merged int
	Err    error
}

// Report sums up a delivery.
type Report struct {
	Results []Result
	Fleets  int // fleet messages published
}

// Deliver claims and delivers every item. lease is until when this run may
// hold an outbox (its own deadline): a run that dies leaves its outbox to the
// first run after it.
func (o *Outbox) Deliver(ctx context.Context, log *slog.Logger, items []Item, now, lease time.Time) Report {
	rep := Report{Results: make([]Result, len(items))}
	held := make([]bool, len(items))
	ledgers := make([]ledger, len(items))
	o.each(len(items), func(i int) {
		ledgers[i] = ledger{}
		rep.Results[i], held[i] = o.claim(ctx, items[i], now, lease, ledgers[i])
	})
	// Each topic gets an instance's alerts in the order they were claimed:
	// its own alerts up to its first fleet message, the fleet messages, then
	// the rest.
	o.each(len(items), func(i int) {
		if held[i] {
			o.own(ctx, log, &rep.Results[i], ledgers[i])
		}
	})
	rep.Fleets = o.fleets(ctx, log, rep.Results, held, ledgers)
	o.each(len(items), func(i int) {
		if !held[i] {
			return
		}
		o.own(ctx, log, &rep.Results[i], ledgers[i])
		o.record(ctx, log, items[i].Target, &rep.Results[i], ledgers[i])
	})
	return rep
}

// claim stores the decided state with the alert appended to the outbox, and
// takes the outbox if no other run holds it.
func (o *Outbox) claim(ctx context.Context, it Item, now, lease time.Time, l ledger) (Result, bool) {
	next := it.Next
	next.Outbox = slices.Clone(next.Outbox)
	free := !it.Prev.OutboxLease.After(now)
	if it.Alert != nil {
		p := monitor.Pending{Alert: *it.Alert}
		// While another run holds the outbox, this run's fleet message goes
		// out without the alert, which that run sends later: it goes alone.
		if free {
			p.Fleet, p.FleetSize, p.FleetChecked, p.FleetNote = it.Fleet, it.FleetSize, it.Checked, it.Note
		}
		next.Outbox = append(next.Outbox, p)
	}
	var res Result
	next.Outbox, res.Merged = bound(next.Outbox)
	hold := len(next.Outbox) > 0 && free
	if hold {
		next.OutboxLease = lease
		for i, p := range next.Outbox {
			// From here on, a publish may reach SNS before the run can say so;
			// what this run does not get to try is given its mark back.
			l.of(p.ID).triedBefore = p.Tried
			next.Outbox[i].Tried = true
		}
	}
	ttl := o.StateTTL
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	res.State = next
	if monitor.Equal(it.Prev, next) && it.Prev.ExpiresAt.Sub(now) >= ttl/2 {
		res.Pending = len(next.Outbox)
		return res, false
	}
	next.UpdatedAt, next.ExpiresAt = now, now.Add(ttl)
	v, err := o.Store.Save(ctx, next)
	switch {
	case errors.Is(err, monitor.ErrConflict):
		res.Conflict = true
		return res, false
	case err != nil:
		res.Err = &StateError{Instance: it.Target.Name, Err: err}
		return res, false
	}
	next.Version = v
	res.State, res.Claimed = next, it.Alert != nil
	res.Pending = len(next.Outbox)
	return res, hold
}

// ledger is what a run learned about the outbox entries it held, by alert id.
type ledger map[string]*outcome

type outcome struct {
	triedBefore bool     // the alert's mark before this run took the outbox
	attempted   []string // audiences this run tried to publish it to
	done        []string // audiences that took it, or refused it for good
	maybeSent   bool     // some attempt may have reached a subscriber
}

// done says whether an audience is done with an outbox entry, as stored or as
// this run learned.
func (l ledger) done(p monitor.Pending, audience string) bool {
	return slices.Contains(p.Done, audience) || l[p.ID] != nil && slices.Contains(l[p.ID].done, audience)
}

// failed says whether this run tried an entry on an audience, in vain.
func (l ledger) failed(p monitor.Pending, audience string) bool {
	return l[p.ID] != nil && slices.Contains(l[p.ID].attempted, audience) && !l.done(p, audience)
}

// ready says whether every entry before the i-th of an outbox is done for
// an audience: only then may the i-th go to it.
func (l ledger) ready(outbox []monitor.Pending, i int, audience string) bool {
	for _, p := range outbox[:i] {
		if !l.done(p, audience) {
			return false
		}
	}
	return true
}

func (l ledger) of(id string) *outcome {
	if l[id] == nil {
		l[id] = &outcome{}
	}
	return l[id]
}

// fleets publishes, once each, the fleet messages of the outboxes this run
// holds, and notes the delivery in every member's ledger. A fleet message
// goes to an audience once every member's earlier alerts reached it.
func (o *Outbox) fleets(ctx context.Context, log *slog.Logger, results []Result, held []bool, ledgers []ledger) int {
	type member struct {
		i  int // the member's item
		at int // the entry's place in its outbox
		p  monitor.Pending
	}
	byFleet := map[string][]member{}
	var order []string
	for i, res := range results {
		if !held[i] {
			continue
		}
		for at, p := range res.State.Outbox {
			if p.Fleet == "" {
				continue
			}
			if byFleet[p.Fleet] == nil {
				order = append(order, p.Fleet)
			}
			byFleet[p.Fleet] = append(byFleet[p.Fleet], member{i, at, p})
		}
	}
	// Oldest first, as each member's outbox has them.
	slices.SortStableFunc(order, func(a, b string) int { return byFleet[a][0].p.Time.Compare(byFleet[b][0].p.Time) })
	published := 0
	for _, id := range order {
		ms := byFleet[id]
		f := render.Fleet{Time: ms[0].p.Time, Checked: ms[0].p.FleetChecked, Note: ms[0].p.FleetNote}
		tried := true
		for _, m := range ms {
			f.Members = append(f.Members, m.p.Alert)
			tried = tried && ledgers[m.i].of(m.p.ID).triedBefore
		}
		f.ID = messageID(id, ms[0].p.FleetSize, f.Members, tried)
		sent := false
		for _, aud := range o.Audiences {
			wanted, ready := false, true
			for _, m := range ms {
				wanted = wanted || !ledgers[m.i].done(m.p, aud.Name)
				ready = ready && ledgers[m.i].ready(results[m.i].State.Outbox, m.at, aud.Name)
			}
			if !wanted || !ready {
				continue
			}
			out := o.publish(ctx, aud, func(minimal bool) (render.Message, error) {
				return render.FleetMessage(f, aud.Format, minimal)
			})
			for _, m := range ms {
				ledgers[m.i].of(m.p.ID).apply(aud.Name, out)
			}
			if out.err != nil {
				// The other audiences still get it: one topic's failure is
				// no reason to keep an alert from another.
				err := &PublishError{Dropped: out.dropped, Err: fmt.Errorf("fleet alert %s (%d instances) to %s: %w", f.ID, len(ms), aud.Name, out.err)}
				for _, m := range ms {
					results[m.i].Err = errors.Join(results[m.i].Err, err)
				}
				continue
			}
			sent = true
			log.Info("fleet alert published", "alertId", f.ID, "audience", aud.Name, "severity", f.Severity(),
				"instances", names(f.Members), "minimal", out.minimal)
		}
		if sent {
			published++
		}
	}
	return published
}

// names lists a fleet's instances for its log line, at most 50 of them (a
// log event holds 256 KB; the message names them all).
func names(members []monitor.Alert) string {
	var out []string
	for _, m := range members[:min(len(members), 50)] {
		out = append(out, m.Instance)
	}
	if len(members) > 50 {
		out = append(out, fmt.Sprintf("and %d more", len(members)-50))
	}
	return strings.Join(out, ",")
}

// messageID is the id a fleet message made for size instances goes out
// under with these members: the fleet's own id when they are all there, or
// when every one of them may already have gone out under it (tried: a repeat
// is then dropped as one); otherwise an id of its own, so that no id names
// two messages that tell of different instances.
func messageID(fleet string, size int, members []monitor.Alert, tried bool) string {
	if size == 0 || len(members) == size || tried {
		return fleet
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Instance
	}
	slices.Sort(names)
	h := sha256.Sum256([]byte(fleet + "\n" + strings.Join(names, "\n")))
	return fleet[:min(len(fleet), 12)] + hex.EncodeToString(h[:6])
}

// own publishes the instance's own alerts to each audience in order: an
// alert that did not go out to an audience (its fleet message included)
// holds the later ones back from that audience only, until a later run.
func (o *Outbox) own(ctx context.Context, log *slog.Logger, res *Result, l ledger) {
	problems := monitor.Problems(res.State)
	sent := map[string]bool{}
	for _, aud := range o.Audiences {
		for _, p := range res.State.Outbox {
			if l.done(p, aud.Name) {
				continue
			}
			if p.Fleet != "" || l.failed(p, aud.Name) {
				break // a fleet message, or one that failed: it goes first, later
			}
			out := o.publish(ctx, aud, func(minimal bool) (render.Message, error) {
				return render.Alert(p.Alert, problems, aud.Format, minimal)
			})
			l.of(p.ID).apply(aud.Name, out)
			if out.err != nil {
				res.Err = errors.Join(res.Err, &PublishError{Dropped: out.dropped, Err: fmt.Errorf("alert %s to %s: %w", p.ID, aud.Name, out.err)})
				if out.dropped {
					continue // given up: the next alert may go out
				}
				break
			}
			sent[p.ID] = true
			log.Info("alert published", "instance", p.Instance, "alertId", p.ID, "audience", aud.Name,
				"severity", p.Severity, "changes", len(p.Changes), "minimal", out.minimal)
		}
	}
	res.Published += len(sent)
}

// publishing is the outcome of one attempt to publish to one audience.
type publishing struct {
	err         error
	minimal     bool // the short form went out
	notAccepted bool
	dropped     bool
}

func (oc *outcome) apply(audience string, p publishing) {
	oc.attempted = append(oc.attempted, audience)
	switch {
	case p.err == nil:
		oc.done = append(oc.done, audience)
		oc.maybeSent = true
	case p.dropped:
		oc.done = append(oc.done, audience)
	case !p.notAccepted:
		oc.maybeSent = true
	}
}

// publish sends a message, and its short form if SNS refuses the full one as
// invalid; if SNS refuses the short form too, the alert is given up, so that
// it does not block every later one.
func (o *Outbox) publish(ctx context.Context, aud Audience, msg func(minimal bool) (render.Message, error)) publishing {
	m, err := msg(false)
	if err == nil {
		err = o.Publisher.Publish(ctx, aud.Name, m)
	}
	if err == nil {
		return publishing{}
	}
	if !invalid(err) {
		return publishing{err: err, notAccepted: notAccepted(err)}
	}
	short, serr := msg(true)
	if serr == nil {
		serr = o.Publisher.Publish(ctx, aud.Name, short)
	}
	switch {
	case serr == nil:
		return publishing{minimal: true}
	case invalid(serr):
		return publishing{dropped: true,
			err: fmt.Errorf("SNS refused it even in its short form (the full form: %v): %w", err, serr)}
	default:
		return publishing{err: serr, notAccepted: notAccepted(serr)}
	}
}

func invalid(err error) bool {
	var r rejection
	return errors.As(err, &r) && r.Invalid()
}

func notAccepted(err error) bool {
	var r rejection
	return errors.As(err, &r) && r.NotAccepted()
}

// record writes what was delivered: delivered alerts leave the outbox, the
// others stay, and the lease is given up. Another run may have written
// meanwhile (appending its own alert): on a conflict it reads the instance
// again and applies the same outcomes, by alert id.
func (o *Outbox) record(ctx context.Context, log *slog.Logger, t monitor.Target, res *Result, l ledger) {
	s := res.State
	for attempt := 0; ; attempt++ {
		s.Outbox = settle(s.Outbox, l, o.audienceNames())
		s.OutboxLease = time.Time{}
		v, err := o.Store.Save(ctx, s)
		if err == nil {
			s.Version = v
			res.State, res.Pending = s, len(s.Outbox)
			return
		}
		if !errors.Is(err, monitor.ErrConflict) || attempt == 2 {
			if errors.Is(err, monitor.ErrConflict) {
				err = fmt.Errorf("another run kept writing the instance")
			}
			res.Err = errors.Join(res.Err, &StateError{Instance: t.Name,
				Err: fmt.Errorf("record the delivery: %w; delivered alerts may be sent once more, with the same alert-id", err)})
			return
		}
		fresh, err := o.Store.Load(ctx, []string{t.Key})
		if err != nil {
			res.Err = errors.Join(res.Err, &StateError{Instance: t.Name, Err: fmt.Errorf("read the instance again to record the delivery: %w", err)})
			return
		}
		s = fresh[t.Key]
		log.Debug("delivery recorded after a concurrent write", "instance", t.Name, "attempt", attempt+1)
	}
}

func (o *Outbox) audienceNames() []string {
	names := make([]string, len(o.Audiences))
	for i, a := range o.Audiences {
		names[i] = a.Name
	}
	return names
}

// settle applies a run's outcomes to an outbox.
func settle(outbox []monitor.Pending, l ledger, audiences []string) []monitor.Pending {
	var out []monitor.Pending
	for _, p := range outbox {
		oc := l[p.ID]
		if oc != nil {
			for _, a := range oc.done {
				if !slices.Contains(p.Done, a) {
					p.Done = append(p.Done, a)
				}
			}
			switch {
			case len(oc.attempted) == 0:
				p.Tried = oc.triedBefore
			case !oc.maybeSent && len(p.Done) == 0 && !oc.triedBefore:
				p.Tried = false // SNS surely has not got it: it may still be merged
			}
		}
		done := true
		for _, a := range audiences {
			done = done && slices.Contains(p.Done, a)
		}
		if !done {
			out = append(out, p)
		}
	}
	return out
}

func (o *Outbox) each(n int, f func(i int)) {
	limit := o.Concurrency
	if limit <= 0 {
		limit = 64
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// StateError is a state that could not be written: nothing of its change was
// claimed, and the next run decides again.
type StateError struct {
	Instance string
	Err      error
}

func (e *StateError) Error() string { return fmt.Sprintf("state of %s: %v", e.Instance, e.Err) }
func (e *StateError) Unwrap() error { return e.Err }

// PublishError is an alert that did not go out to an audience: it stays in
// the outbox and a later run sends it, unless it was Dropped (refused by SNS
// as invalid even in its short form, so that it does not block every later
// alert).
type PublishError struct {
	Dropped bool
	Err     error
}

func (e *PublishError) Error() string {
	if e.Dropped {
		return fmt.Sprintf("%v; it is given up so that later alerts go out (the log has it in full)", e.Err)
	}
	return fmt.Sprintf("%v; it stays pending and a later run sends it", e.Err)
}
func (e *PublishError) Unwrap() error { return e.Err }
