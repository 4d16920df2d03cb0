package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/render"
)

// memStore is a state table in memory with the store's contract: Save is
// conditional on the version. hook, when set, may fail a save or write
// something first, as another run would.
type memStore struct {
	mu     sync.Mutex
	states map[string]monitor.State
	saves  int
	hook   func(n int, s monitor.State) error
}

func (m *memStore) Load(_ context.Context, keys []string) (map[string]monitor.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]monitor.State{}
	for _, k := range keys {
		if s, ok := m.states[k]; ok {
			out[k] = clone(s)
		}
	}
	return out, nil
}

func (m *memStore) Save(_ context.Context, s monitor.State) (int64, error) {
	m.mu.Lock()
	m.saves++
	n, hook := m.saves, m.hook
	m.mu.Unlock()
	if hook != nil {
		if err := hook(n, s); err != nil {
			return 0, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states[s.Key].Version != s.Version {
		return 0, monitor.ErrConflict
	}
	s = clone(s)
	s.Version++
	m.states[s.Key] = s
	return s.Version, nil
}

// put writes as another run would, bumping the version.
func (m *memStore) put(s monitor.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.Version = m.states[s.Key].Version + 1
	m.states[s.Key] = clone(s)
}

func clone(s monitor.State) monitor.State {
	s.Components = maps.Clone(s.Components)
	s.Outbox = slices.Clone(s.Outbox)
	for i := range s.Outbox {
		s.Outbox[i].Done = slices.Clone(s.Outbox[i].Done)
	}
	return s
}

type sent struct {
	audience string
	msg      render.Message
}

// memPublisher records what it publishes; fail, when set, decides per call.
type memPublisher struct {
	mu   sync.Mutex
	sent []sent
	fail func(audience string, m render.Message) error
}

func (p *memPublisher) Publish(_ context.Context, audience string, m render.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		if err := p.fail(audience, m); err != nil {
			return err
		}
	}
	p.sent = append(p.sent, sent{audience, m})
	return nil
}

func (p *memPublisher) take() []sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.sent
	p.sent = nil
	return out
}

// snsError is a Publisher error that says what SNS did.
type snsError struct{ invalid, notAccepted bool }

func (e snsError) Error() string     { return fmt.Sprintf("sns refused (invalid %v)", e.invalid) }
func (e snsError) Invalid() bool     { return e.invalid }
func (e snsError) NotAccepted() bool { return e.notAccepted }

var (
	ambiguous = errors.New("read tcp: i/o timeout") // may have been published
	refused   = snsError{notAccepted: true}         // surely not published
	tooLong   = snsError{invalid: true, notAccepted: true}
)

type world struct {
	t     *testing.T
	store *memStore
	pub   *memPublisher
	out   *Outbox
	now   time.Time
	// ids maps what an alert says to every id it was published under, per
	// audience; order is what each audience received, in order.
	ids   map[string]map[string]bool
	order map[string][]string
	logs  bytes.Buffer
}

var audiences = []Audience{{Name: "people", Format: render.Text}, {Name: "programs", Format: render.JSON}}

func newWorld(t *testing.T) *world {
	w := &world{t: t, store: &memStore{states: map[string]monitor.State{}}, pub: &memPublisher{},
		now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), ids: map[string]map[string]bool{}, order: map[string][]string{}}
	w.out = &Outbox{Store: w.store, Publisher: w.pub, Audiences: audiences}
	return w
}

func target(name string) monitor.Target {
	return monitor.Target{Name: name, Key: "/t/" + name, URL: "https://" + name}
}

// item is a run's decision for an instance: its status moves to status, with
// an alert saying so (nil alert when say is false).
func (w *world) item(name string, to monitor.Status, say bool) Item {
	t := target(name)
	prev := w.store.states[t.Key]
	next := clone(prev)
	next.Key, next.Instance = t.Key, t.Name
	if next.Components == nil {
		next.Components = map[string]monitor.ComponentState{}
	}
	from := next.Components["instance"].Status
	if from != to {
		next.Components["instance"] = monitor.ComponentState{Status: to, Alerted: to, Since: w.now}
	}
	it := Item{Target: t, Prev: prev, Next: next}
	if say {
		it.Alert = &monitor.Alert{ID: fmt.Sprintf("%s-%s-%d", name, to, w.now.Unix()), Instance: name, URL: t.URL,
			Severity: monitor.SeverityCritical, Time: w.now,
			Changes: []monitor.Change{{Component: "instance", From: from, To: to, Since: w.now}}}
		if to.Healthy() {
			it.Alert.Severity = monitor.SeverityResolved
		}
	}
	return it
}

// deliver runs one delivery; the run's lease ends a minute later, and the
// clock then moves on five minutes, as schedules do.
func (w *world) deliver(items ...Item) Report {
	w.t.Helper()
	rep := w.out.Deliver(context.Background(), slog.New(slog.NewJSONHandler(&w.logs, nil)), items, w.now, w.now.Add(time.Minute))
	for _, s := range w.pub.take() {
		// What a message says, without its id: the instance and changes.
		what := s.audience + ":" + s.msg.Subject
		if w.ids[what] == nil {
			w.ids[what] = map[string]bool{}
		}
		w.ids[what][s.msg.ID] = true
		w.order[s.audience] = append(w.order[s.audience], s.msg.Subject)
	}
	w.now = w.now.Add(5 * time.Minute)
	return rep
}

// delivered checks that exactly these subjects went out, each to both
// audiences, each under one id only.
func (w *world) delivered(subjects ...string) {
	w.t.Helper()
	var got []string
	for what, ids := range w.ids {
		if len(ids) != 1 {
			w.t.Errorf("%q went out under %d ids: %v", what, len(ids), slices.Collect(maps.Keys(ids)))
		}
		if s, ok := strings.CutPrefix(what, "people:"); ok {
			got = append(got, s)
			if w.ids["programs:"+s] == nil {
				w.t.Errorf("%q reached people but not programs", s)
			}
		}
	}
	slices.Sort(got)
	slices.Sort(subjects)
	if !slices.Equal(got, subjects) {
		w.t.Errorf("delivered\n got %q\nwant %q", got, subjects)
	}
}

// oneMessagePerID checks that no alert id was used for two different
// messages: subscribers that drop repeats by id would lose one. (A repeat
// of a fleet message that went out whole, for members whose delivery was
// not recorded, may carry fewer members under its id.)
func (w *world) oneMessagePerID() {
	w.t.Helper()
	said := map[string]string{}
	for what, ids := range w.ids {
		_, subject, _ := strings.Cut(what, ":")
		for id := range ids {
			if prev, ok := said[id]; ok && prev != subject {
				w.t.Errorf("id %s names two messages: %q and %q", id, prev, subject)
			}
			said[id] = subject
		}
	}
}

func (w *world) pending(name string) []monitor.Pending {
	return w.store.states["/t/"+name].Outbox
}

func TestDeliversOnceToEveryAudience(t *testing.T) {
	w := newWorld(t)
	rep := w.deliver(w.item("a", monitor.StatusDown, true), w.item("b", monitor.StatusOK, false))
	if r := rep.Results[0]; !r.Claimed || r.Published != 1 || r.Pending != 0 || r.Err != nil {
		t.Errorf("result %+v", r)
	}
	w.delivered("ProGet a: DOWN")
	if len(w.pending("a")) != 0 || !w.store.states["/t/a"].OutboxLease.IsZero() {
		t.Errorf("outbox %+v, lease %v: must be empty and released", w.pending("a"), w.store.states["/t/a"].OutboxLease)
	}
	saves := w.store.saves
	w.deliver(w.item("b", monitor.StatusOK, false))
	if w.store.saves != saves {
		t.Errorf("a run with nothing changed wrote state")
	}
}

// Another run writes the instance between this run's claim and its record:
// the record is applied again to what is stored, by alert id, and the other
// run's alert is delivered later, once.
func TestConflictBetweenClaimAndRecord(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	it := w.item("a", monitor.StatusDown, true)
	w.store.hook = func(n int, s monitor.State) error {
		if n == 3 { // the record of this run's delivery
			other := clone(w.store.states["/t/a"])
			other.Outbox = append(other.Outbox, monitor.Pending{Alert: monitor.Alert{ID: "other", Instance: "a", Time: w.now,
				Severity: monitor.SeverityWarning, Changes: []monitor.Change{{Component: "connector-health", From: "OK", To: "Rejected"}}}})
			w.store.put(other)
		}
		return nil
	}
	rep := w.deliver(it)
	if err := rep.Results[0].Err; err != nil {
		t.Fatalf("a conflict on the record must be resolved: %v", err)
	}
	if p := w.pending("a"); len(p) != 1 || p[0].ID != "other" {
		t.Fatalf("outbox after the conflict: %+v", p)
	}
	w.store.hook = nil
	w.deliver(w.item("a", monitor.StatusDown, false))
	w.delivered("ProGet a: DOWN", "ProGet a: API key rejected")
	if len(w.pending("a")) != 0 {
		t.Errorf("outbox not empty: %+v", w.pending("a"))
	}
}

func (w *world) fleet(names ...string) []Item {
	var items []Item
	for _, n := range names {
		it := w.item(n, monitor.StatusDown, true)
		it.Fleet, it.FleetSize, it.Checked = "fleet-1", len(names), len(names)
		items = append(items, it)
	}
	return items
}

// A fleet message that SNS fails to take stays in every member's outbox and
// goes out later with its id.
func TestFailedFleetPublish(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	w.pub.fail = func(string, render.Message) error { return ambiguous }
	rep := w.deliver(w.fleet("a", "b", "c")...)
	if rep.Fleets != 0 || rep.Results[0].Err == nil || !strings.Contains(rep.Results[0].Err.Error(), "stays pending") {
		t.Fatalf("report %+v", rep)
	}
	for _, n := range []string{"a", "b", "c"} {
		if p := w.pending(n); len(p) != 1 || p[0].Fleet != "fleet-1" || !p[0].Tried {
			t.Errorf("%s outbox %+v: the fleet alert must stay, marked as maybe published", n, p)
		}
	}
	w.pub.fail = nil
	rep = w.deliver(w.item("a", monitor.StatusDown, false), w.item("b", monitor.StatusDown, false), w.item("c", monitor.StatusDown, false))
	if rep.Fleets != 1 {
		t.Errorf("fleets published %d", rep.Fleets)
	}
	w.delivered("ProGet monitor: 3 of 3 instances DOWN at once")
	if !strings.Contains(w.logs.String(), `"msg":"fleet alert published","alertId":"fleet-1","audience":"people","severity":"critical","instances":"a,b,c"`) {
		t.Errorf("the fleet's log line must name its severity and instances:\n%s", w.logs.String())
	}
}

// A member whose outbox another run holds is not in the fleet message: its
// alert waits for that run's lease and then goes out alone, so the fleet's
// id names one message only.
func TestFleetMemberHeldByAnotherRun(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	held := clone(w.store.states["/t/c"])
	held.OutboxLease = w.now.Add(30 * time.Second)
	held.Outbox = []monitor.Pending{{Alert: monitor.Alert{ID: "other", Instance: "c", Time: w.now, Severity: monitor.SeverityWarning,
		Changes: []monitor.Change{{Component: "connector-health", From: "OK", To: "Rejected"}}}, Tried: true}}
	w.store.put(held)
	rep := w.deliver(w.fleet("a", "b", "c")...)
	if rep.Fleets != 1 || rep.Results[2].Pending != 2 {
		t.Fatalf("fleets %d, c pending %d", rep.Fleets, rep.Results[2].Pending)
	}
	if p := w.pending("c"); p[1].Fleet != "" {
		t.Errorf("c's alert joined fleet %q although another run holds its outbox", p[1].Fleet)
	}
	w.deliver(w.item("a", monitor.StatusDown, false), w.item("b", monitor.StatusDown, false), w.item("c", monitor.StatusDown, false))
	w.delivered("ProGet monitor: 2 of 3 instances DOWN at once", "ProGet c: API key rejected", "ProGet c: DOWN")
	w.oneMessagePerID()
}

// A fleet message published but recorded for only some members is sent
// again to the rest with the same id, so subscribers drop the repeat.
func TestFailedFleetRecord(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	w.store.hook = func(n int, s monitor.State) error {
		if s.Key == "/t/b" && len(s.Outbox) == 0 {
			return errors.New("ProvisionedThroughputExceededException")
		}
		return nil
	}
	rep := w.deliver(w.fleet("a", "b", "c")...)
	if rep.Fleets != 1 || rep.Results[1].Err == nil || !strings.Contains(rep.Results[1].Err.Error(), "same alert-id") {
		t.Fatalf("report %+v", rep.Results[1])
	}
	w.store.hook = nil
	w.deliver(w.item("a", monitor.StatusDown, false), w.item("b", monitor.StatusDown, false), w.item("c", monitor.StatusDown, false))
	w.delivered("ProGet monitor: 3 of 3 instances DOWN at once", "ProGet monitor: 1 of 3 instances DOWN at once")
	if len(w.ids["people:ProGet monitor: 1 of 3 instances DOWN at once"]) != 1 || !w.ids["people:ProGet monitor: 1 of 3 instances DOWN at once"]["fleet-1"] {
		t.Errorf("the repeat must carry the fleet's id: %v", w.ids)
	}
	for _, n := range []string{"a", "b", "c"} {
		if p := w.pending(n); len(p) != 0 {
			t.Errorf("%s outbox %+v", n, p)
		}
	}
}

// A run that dies after publishing, before recording, leaves the alert under
// its lease; the first run after the lease sends it again, with its id.
func TestCrashAfterPublish(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	w.store.hook = func(n int, s monitor.State) error {
		if len(s.Outbox) == 0 || s.OutboxLease.IsZero() && n > 2 {
			return errors.New("the process was killed") // the record never happens
		}
		return nil
	}
	w.deliver(w.item("a", monitor.StatusDown, true))
	if p := w.pending("a"); len(p) != 1 || !p[0].Tried {
		t.Fatalf("outbox after the crash: %+v", p)
	}
	w.store.hook = nil
	w.deliver(w.item("a", monitor.StatusDown, false))
	w.delivered("ProGet a: DOWN")
	if len(w.ids["people:ProGet a: DOWN"]) != 1 {
		t.Errorf("sent again under another id: %v", w.ids)
	}
}

// An alert SNS refuses as invalid goes out in its short form; one refused
// even so is given up, and the next alert of the instance still goes out.
func TestInvalidAlertsDoNotBlock(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	w.pub.fail = func(_ string, m render.Message) error {
		if !strings.Contains(m.Body, "short form") {
			return tooLong
		}
		return nil
	}
	w.deliver(w.item("a", monitor.StatusDown, true))
	w.delivered("ProGet a: DOWN")
	w.pub.fail = func(_ string, m render.Message) error {
		if strings.Contains(m.Subject, "recovered") {
			return nil
		}
		return tooLong
	}
	st := w.store.states["/t/a"]
	st.Outbox = append(st.Outbox, monitor.Pending{Alert: monitor.Alert{ID: "poison", Instance: "a", Time: w.now,
		Severity: monitor.SeverityCritical, Changes: []monitor.Change{{Component: "database", From: "OK", To: "Error"}}}})
	w.store.put(st)
	rep := w.deliver(w.item("a", monitor.StatusOK, true))
	if err := rep.Results[0].Err; err == nil || !strings.Contains(err.Error(), "given up") {
		t.Errorf("a refused alert must be reported as given up: %v", err)
	}
	if p := w.pending("a"); len(p) != 0 {
		t.Errorf("outbox %+v: the given-up alert must not block, and the recovery must go out", p)
	}
	w.delivered("ProGet a: DOWN", "ProGet a: recovered")
}

// While SNS refuses everything for a long time, the outbox stays bounded by
// merging alerts it surely never published, and nothing is lost.
func TestLongOutageMergesOnlyUnpublished(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	w.pub.fail = func(string, render.Message) error { return refused }
	for i := range 30 {
		to := monitor.StatusDown
		if i%2 == 1 {
			to = monitor.StatusOK
		}
		rep := w.deliver(w.item("a", to, true))
		if rep.Results[0].Merged != 0 {
			t.Fatalf("run %d merged %d alerts that may have been published", i, rep.Results[0].Merged)
		}
		if n := len(w.pending("a")); n > maxOutbox {
			t.Fatalf("run %d: %d alerts pending, over %d", i, n, maxOutbox)
		}
	}
	w.pub.fail = nil
	w.deliver(w.item("a", monitor.StatusOK, false))
	if len(w.pending("a")) != 0 {
		t.Errorf("outbox not emptied: %d", len(w.pending("a")))
	}
	ids := map[string]int{}
	for _, per := range w.ids {
		for id := range per {
			ids[id]++
		}
	}
	if len(ids) > maxOutbox {
		t.Errorf("%d alerts sent after the outage, want at most %d", len(ids), maxOutbox)
	}
	for id, n := range ids {
		if n != 2 {
			t.Errorf("alert %s went out %d times, want once per audience", id, n)
		}
	}
}

// When SNS may have taken what it was sent (timeouts, 5xx), those alerts are
// never merged: later ones merge among themselves.
func TestAmbiguousFailuresAreNeverMerged(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	w.pub.fail = func(string, render.Message) error { return ambiguous }
	var first string
	for i := range 25 {
		to := monitor.StatusDown
		if i%2 == 1 {
			to = monitor.StatusOK
		}
		rep := w.deliver(w.item("a", to, true))
		if rep.Results[0].Merged != 0 {
			t.Fatalf("run %d merged an alert that may have been published", i)
		}
		if i == 0 {
			first = w.pending("a")[0].ID
		}
	}
	p := w.pending("a")
	if len(p) > maxOutbox || p[0].ID != first || !p[0].Tried {
		t.Errorf("the first alert, maybe published, must stay as it is: %+v", p[0])
	}
}

// One topic failing keeps nothing from the other: each audience gets every
// alert once, in order, and an alert one audience refuses for good still
// reaches the other.
func TestAudiencesAreIndependent(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	var order []string
	w.pub.fail = func(aud string, m render.Message) error {
		if aud == "people" {
			return refused
		}
		order = append(order, aud+":"+m.Subject)
		return nil
	}
	w.deliver(w.item("a", monitor.StatusDown, true))
	w.deliver(w.item("a", monitor.StatusOK, true))
	if want := []string{"programs:ProGet a: DOWN", "programs:ProGet a: recovered"}; !slices.Equal(order, want) {
		t.Fatalf("while people's topic fails, programs got %q, want %q", order, want)
	}
	if p := w.pending("a"); len(p) != 2 || !slices.Equal(p[0].Done, []string{"programs"}) {
		t.Fatalf("outbox %+v: both alerts wait for people only", p)
	}
	w.pub.fail = func(aud string, m render.Message) error {
		order = append(order, aud+":"+m.Subject)
		return nil
	}
	w.deliver(w.item("a", monitor.StatusOK, false))
	w.delivered("ProGet a: DOWN", "ProGet a: recovered")
	if want := []string{"people:ProGet a: DOWN", "people:ProGet a: recovered"}; !slices.Equal(order[2:], want) {
		t.Errorf("after the outage people got %q, want %q", order[2:], want)
	}

	w.pub.fail = func(aud string, m render.Message) error {
		if aud == "people" && strings.Contains(m.Subject, "DOWN") {
			return tooLong // refused, even short: given up for people only
		}
		return nil
	}
	rep := w.deliver(w.item("a", monitor.StatusDown, true))
	if err := rep.Results[0].Err; err == nil || !strings.Contains(err.Error(), "given up") {
		t.Errorf("the refusal must be reported: %v", err)
	}
	if p := w.pending("a"); len(p) != 0 {
		t.Errorf("outbox %+v: an alert given up for one audience and delivered to the other is done", p)
	}
	if ids := w.ids["programs:ProGet a: DOWN"]; len(ids) != 2 {
		t.Errorf("programs must get the second DOWN too: %v", ids)
	}
}

// One topic refusing for longer than the outbox holds: the other topic gets
// every alert once, under one id, and the failing one gets what was merged
// for it, without a repeat on the other.
func TestOneTopicDownForLong(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false))
	w.pub.fail = func(aud string, _ render.Message) error {
		if aud == "people" {
			return snsError{notAccepted: true} // AuthorizationError: the topic's policy
		}
		return nil
	}
	for i := range 3 * maxOutbox {
		to := monitor.StatusDown
		if i%2 == 1 {
			to = monitor.StatusOK
		}
		w.deliver(w.item("a", to, true))
		if n := len(w.pending("a")); n > maxOutbox {
			t.Fatalf("run %d: %d alerts pending", i, n)
		}
	}
	if n := len(w.order["programs"]); n != 3*maxOutbox {
		t.Errorf("programs got %d messages, want one per alert: %d", n, 3*maxOutbox)
	}
	for what, ids := range w.ids {
		if strings.HasPrefix(what, "programs:") && len(ids) != 3*maxOutbox/2 {
			t.Errorf("%s: %d ids, want %d (each alert once)", what, len(ids), 3*maxOutbox/2)
		}
	}
	w.pub.fail = nil
	w.deliver(w.item("a", monitor.StatusOK, false))
	if len(w.pending("a")) != 0 || len(w.order["people"]) == 0 || len(w.order["people"]) > maxOutbox {
		t.Errorf("after the outage: %d pending, people got %d", len(w.pending("a")), len(w.order["people"]))
	}
	if n := len(w.order["programs"]); n != 3*maxOutbox {
		t.Errorf("programs got %d messages after the outage, want still %d: merging must not repeat what it took", n, 3*maxOutbox)
	}
	w.oneMessagePerID()
}

// fleetOf makes items one fleet message.
func fleetOf(id string, items ...Item) []Item {
	for i := range items {
		items[i].Fleet, items[i].FleetSize, items[i].Checked = id, len(items), len(items)
	}
	return items
}

// A topic gets an instance's alerts in order, fleet messages included: a
// recovery told in a fleet message never overtakes the instance's own DOWN,
// nor a fleet DOWN still waiting for that topic.
func TestFleetMessagesKeepEachTopicsOrder(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	peopleRefuses := func(string) bool { return true }
	w.pub.fail = func(aud string, m render.Message) error {
		if aud == "people" && peopleRefuses(m.Subject) {
			return refused
		}
		return nil
	}
	w.deliver(fleetOf("f-down", w.item("a", monitor.StatusDown, true), w.item("b", monitor.StatusDown, true))...)
	w.deliver(w.item("c", monitor.StatusDown, true))
	w.deliver(fleetOf("f-up", w.item("a", monitor.StatusOK, true), w.item("b", monitor.StatusOK, true), w.item("c", monitor.StatusOK, true))...)
	if got := w.order["people"]; len(got) != 0 {
		t.Fatalf("people got %q while its topic refused", got)
	}
	// The topic takes messages again, but throttles the fleet DOWN once.
	peopleRefuses = func(subject string) bool { return strings.Contains(subject, "DOWN at once") }
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	peopleRefuses = func(string) bool { return false }
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	want := []string{"ProGet monitor: 2 of 2 instances DOWN at once", "ProGet c: DOWN", "ProGet monitor: 3 instances recovered"}
	for _, aud := range []string{"programs", "people"} {
		got := w.order[aud]
		down, own, up := slices.Index(got, want[0]), slices.Index(got, want[1]), slices.Index(got, want[2])
		if len(got) != 3 || down < 0 || own < 0 || up < own || up < down {
			t.Errorf("%s got %q: the recovery must come after both DOWNs", aud, got)
		}
	}
	w.delivered(want...)
	w.oneMessagePerID()
}

// A fleet message that surely never went out, resent without a member that
// is not in this run, goes under an id of its own; so does the member later.
func TestFleetResentWithoutAMember(t *testing.T) {
	w := newWorld(t)
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	w.pub.fail = func(string, render.Message) error { return refused }
	w.deliver(fleetOf("f-down", w.item("a", monitor.StatusDown, true), w.item("b", monitor.StatusDown, true), w.item("c", monitor.StatusDown, true))...)
	w.pub.fail = nil
	w.deliver(w.item("a", monitor.StatusDown, false), w.item("b", monitor.StatusDown, false)) // c could not be checked
	w.deliver(w.item("a", monitor.StatusDown, false), w.item("b", monitor.StatusDown, false), w.item("c", monitor.StatusDown, false))
	w.delivered("ProGet monitor: 2 of 3 instances DOWN at once", "ProGet monitor: 1 of 3 instances DOWN at once")
	w.oneMessagePerID()
	for _, n := range []string{"a", "b", "c"} {
		if p := w.pending(n); len(p) != 0 {
			t.Errorf("%s outbox %+v", n, p)
		}
	}
}

// Hours of fleet reminders while SNS refuses everything: older reminders
// give way to newer ones, and what goes out afterwards is still fleet
// messages, never one message per instance.
func TestFleetRemindersDuringALongOutage(t *testing.T) {
	w := newWorld(t)
	names := []string{"a", "b", "c"}
	w.deliver(w.item("a", monitor.StatusOK, false), w.item("b", monitor.StatusOK, false), w.item("c", monitor.StatusOK, false))
	w.pub.fail = func(string, render.Message) error { return refused }
	w.deliver(w.fleet(names...)...)
	for k := range 3 * maxOutbox {
		var items []Item
		for _, n := range names {
			it := w.item(n, monitor.StatusDown, true)
			it.Alert.Changes[0].From, it.Alert.Changes[0].Reminder = monitor.StatusDown, true
			it.Alert.ID += "-reminder"
			items = append(items, it)
		}
		w.deliver(fleetOf(fmt.Sprintf("still-%d", k), items...)...)
		if n := len(w.pending("a")); n > maxOutbox {
			t.Fatalf("reminder %d: %d pending", k, n)
		}
	}
	w.pub.fail = nil
	w.deliver(w.item("a", monitor.StatusDown, false), w.item("b", monitor.StatusDown, false), w.item("c", monitor.StatusDown, false))
	got := w.order["people"]
	if len(got) == 0 || got[0] != "ProGet monitor: 3 of 3 instances DOWN at once" {
		t.Fatalf("people got %q: the fleet DOWN first", got)
	}
	for _, s := range got {
		if !strings.HasPrefix(s, "ProGet monitor: ") {
			t.Errorf("an instance's own message %q after an outage of fleet messages", s)
		}
	}
	for _, n := range names {
		if p := w.pending(n); len(p) != 0 {
			t.Errorf("%s: %d pending", n, len(p))
		}
	}
}

// Version notices that undo each other merge into nothing, and nothing empty
// is left to publish.
func TestCancellingNoticesLeaveNothing(t *testing.T) {
	var outbox []monitor.Pending
	for i := range maxOutbox + 2 {
		from, to := "2026.1", "2026.2"
		if i%2 == 1 {
			from, to = to, from
		}
		outbox = append(outbox, monitor.Pending{Alert: monitor.Alert{ID: fmt.Sprint(i), Instance: "a", Severity: monitor.SeverityInfo,
			Notices: []monitor.Notice{{Kind: "version", From: from, To: to}}}})
	}
	out, _ := bound(outbox)
	if len(out) > maxOutbox {
		t.Fatalf("%d pending", len(out))
	}
	for _, p := range out {
		if len(p.Changes) == 0 && len(p.Notices) == 0 {
			t.Errorf("an empty alert is left to publish: %+v", p)
		}
	}
}
