package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/deliver"
	"github.com/proget-monitor/proget-monitor/internal/group"
	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// The adapters a run needs, declared here where they are used.
type (
	// TargetSource lists the instances under a path.
	TargetSource interface {
		Load(ctx context.Context, path string) (monitor.Listing, error)
	}
	// Checker observes one instance; it never fails, problems are statuses.
	// CloseIdleConnections releases what the checks kept open: the next run
	// is minutes away.
	Checker interface {
		Check(ctx context.Context, t monitor.Target) monitor.Observation
		CloseIdleConnections()
	}
	// StateReader reads what was remembered of instances and, with it, the
	// marker that moves when the targets' parameters change.
	StateReader interface {
		Snapshot(ctx context.Context, keys []string) (map[string]monitor.State, string, error)
		Marker(ctx context.Context) (string, error)
	}
	// Deliverer claims decided states and delivers their alerts.
	Deliverer interface {
		Deliver(ctx context.Context, log *slog.Logger, items []deliver.Item, now, lease time.Time) deliver.Report
	}
	// MetricsSink publishes a run's metrics and says how many datums it sent.
	MetricsSink interface {
		Push(ctx context.Context, r metrics.Run) (int, error)
	}
)

// Runner runs one check of a fleet.
type Runner struct {
	Targets TargetSource
	Checker Checker
	States  StateReader
	Outbox  Deliverer
	Metrics MetricsSink
	Policy  monitor.Policy
	Storm   group.Policy
	// MaxConcurrency bounds how many instances are checked at once; zero
	// checks as many as the process's open files allow (see concurrency).
	MaxConcurrency int
	// OpenFiles returns the process's limit on open files (Lambda's is
	// 1024); nil means unknown.
	OpenFiles func() int
	// TargetsTTL is how long the targets read from SSM are used while the
	// targets marker stays put; zero reads SSM on every run.
	TargetsTTL time.Duration
	// Subnets are the VPC subnets the function runs in (none: outside any
	// VPC), named when the instances' network looks out of its reach.
	Subnets []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	warnedHTTP sync.Map // instance keys already warned about plain http, once per process
	cache      targetsCache
}

// A check holds one connection for /health then connector-health, and one
// per probe running (at most probesAtOnce);
// filesReserved are kept for idle connections, the AWS calls, the Runtime
// API and the process's own.
const (
	connsPerCheck = 1
	probesAtOnce  = 4
	filesReserved = 96
	// fallbackConcurrency is used when the open-files limit is unknown.
	fallbackConcurrency = 128
)

// concurrency is how many instances are checked at once: MaxConcurrency, or
// as many as the open-files limit allows for checks of these targets, so
// that a fleet of a thousand is checked in a few waves without running out
// of sockets.
func (r *Runner) concurrency(targets []monitor.Target) int {
	if r.MaxConcurrency > 0 {
		return r.MaxConcurrency
	}
	if r.OpenFiles == nil {
		return fallbackConcurrency
	}
	conns := connsPerCheck
	for _, t := range targets {
		conns = max(conns, connsPerCheck+min(len(t.Probes), probesAtOnce))
	}
	return max(1, (r.OpenFiles()-filesReserved)/conns)
}

// defaultLease bounds how long a run holds an outbox when its context has no deadline.
const defaultLease = 5 * time.Minute

// Summary is what a run reports; the Lambda returns it as JSON.
type Summary struct {
	TargetsPath      string        `json:"targetsPath"`
	TargetsCached    bool          `json:"targetsCached"` // SSM was not read: nothing changed there
	Checked          int           `json:"checked"`
	Healthy          int           `json:"healthy"`
	Unhealthy        int           `json:"unhealthy"`
	Down             int           `json:"down"`
	Alerting         int           `json:"alerting"`
	Changed          int           `json:"changed"`
	AlertsPublished  int           `json:"alertsPublished"`
	FleetAlerts      int           `json:"fleetAlerts"`
	AlertsPending    int           `json:"alertsPending"`
	InvalidTargets   int           `json:"invalidTargets"`
	Skipped          int           `json:"skipped"`
	SkippedInstances []string      `json:"skippedInstances,omitempty"`
	InMaintenance    []Maintenance `json:"inMaintenance,omitempty"`
	Conflicts        int           `json:"conflicts"`
	Network          string        `json:"network,omitempty"` // when the instances' network looks out of reach
	MetricsPublished int           `json:"metricsPublished"`
	Errors           []string      `json:"errors"`
	DurationMs       int64         `json:"durationMs"`
}

// Maintenance is an instance checked inside its maintenance window.
type Maintenance struct {
	Instance string    `json:"instance"`
	Until    time.Time `json:"until"`
}

const maxSummaryErrors = 20

func (s *Summary) addError(msg string) {
	if len(s.Errors) < maxSummaryErrors {
		s.Errors = append(s.Errors, msg)
	} else if len(s.Errors) == maxSummaryErrors {
		s.Errors = append(s.Errors, "more errors: see the logs")
	}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// result is one instance's way through the run.
type result struct {
	target  monitor.Target
	obs     monitor.Observation
	skipped bool
	// notChecked says why a skipped instance could not be checked, when it
	// was not the deadline.
	notChecked string
	prev       monitor.State
	next       monitor.State
	alert      *monitor.Alert
	until      time.Time // end of the maintenance the instance is in
	delivery   deliver.Result
}

// Run checks every instance under targetsPath. It returns an *Error (after
// doing all it can) when the run could not be trusted or left work undone.
// Metrics failures are reported, not fatal: alerts and state matter more,
// and the heartbeat alarm notices missing metrics.
func (r *Runner) Run(ctx context.Context, log *slog.Logger, targetsPath string) (Summary, error) {
	// Times are kept to the millisecond, as the store keeps them, so that a
	// state read back equals the state written.
	start := r.now().UTC().Truncate(time.Millisecond)
	// Taken now, in the run's clock: the time left when the run started,
	// whatever the checks take.
	lease := leaseUntil(ctx, start)
	sum := Summary{TargetsPath: targetsPath, Errors: []string{}}
	var fail failures
	done := func() (Summary, error) {
		err := fail.err()
		if err != nil {
			for _, e := range fail.errs {
				sum.addError(e.Error())
			}
		}
		sum.DurationMs = r.now().Sub(start).Milliseconds()
		log.Info("run finished", "summary", sum)
		return sum, err
	}

	cached, fromCache, err := r.listing(ctx, targetsPath, start)
	if err != nil {
		err = fmt.Errorf("%w; check that the path exists and the function may read it (ssm:GetParametersByPath, kms:Decrypt)", err)
		log.Error("cannot read targets: nothing was checked", "error", err)
		fail.add(TargetsUnreadable, err)
		return done()
	}
	listing := cached.listing
	sum.TargetsCached = fromCache
	if len(listing.Targets) == 0 && !fromCache {
		r.reportInvalid(log, listing, &sum)
		err := noTargets(targetsPath, listing)
		log.Error("no instance to check", "targetsPath", targetsPath, "error", err)
		fail.add(NoTargets, err)
		r.pushMetrics(ctx, log, targetsPath, nil, &sum, false)
		return done()
	}

	// The previous state (and the targets marker) are read while the
	// instances are checked.
	var states map[string]monitor.State
	var marker string
	loaded := make(chan error, 1)
	go func() {
		var err error
		states, marker, err = r.States.Snapshot(ctx, keysOf(listing.Targets))
		loaded <- err
	}()
	checkCtx, cancelChecks := checkContext(ctx)
	defer cancelChecks()
	results := r.check(checkCtx, log, listing.Targets, start)
	err = <-loaded
	if err == nil && fromCache && marker != cached.marker {
		// The targets changed since they were read: read them again, and
		// check what is new or changed (the rest was checked as it is).
		sum.TargetsCached = false
		results, states, listing, err = r.refresh(ctx, checkCtx, log, targetsPath, start, listing, results, states)
		if err != nil {
			kind := TargetsUnreadable
			if ke := (*kindError)(nil); errors.As(err, &ke) {
				kind = ke.kind
			}
			err = fmt.Errorf("%w; the instances were checked as they were before the change", err)
			log.Error("cannot read the changed targets", "error", err)
			fail.add(kind, err)
			err = nil
		}
	}
	r.reportInvalid(log, listing, &sum)
	if len(listing.Targets) == 0 {
		err := noTargets(targetsPath, listing)
		log.Error("no instance to check", "targetsPath", targetsPath, "error", err)
		fail.add(NoTargets, err)
		r.pushMetrics(ctx, log, targetsPath, nil, &sum, false)
		return done()
	}
	if err != nil {
		// Without the previous state every decision would be a guess: alert
		// nothing. The metrics do not depend on it.
		err = fmt.Errorf("%w; nothing was alerted: the next run decides again", err)
		log.Error("cannot read state: no alert is sent on a guess", "error", err)
		fail.add(StateUnreadable, err)
		r.count(results, &sum)
		r.pushMetrics(ctx, log, targetsPath, results, &sum, true)
		return done()
	}
	var decided []int
	for i := range results {
		res := &results[i]
		if res.skipped {
			continue
		}
		res.prev = states[res.target.Key]
		res.next, res.alert = monitor.Decide(res.prev, res.obs, r.Policy)
		decided = append(decided, i)
	}

	// Storm control: alerts better told as one fleet message.
	gds := make([]group.Decision, len(decided))
	for j, i := range decided {
		gds[j] = group.Decision{Alert: results[i].alert, NetworkFailure: results[i].obs.NetworkFailure}
	}
	plan := group.Plan(r.Storm, targetsPath, start, len(decided), gds)
	sum.Network = r.networkHint(results)
	if sum.Network != "" {
		log.Warn("the instances' network looks out of the function's reach", "hint", sum.Network)
	}
	items := make([]deliver.Item, len(decided))
	grouped := 0
	for j, i := range decided {
		res := &results[i]
		items[j] = deliver.Item{Target: res.target, Prev: res.prev, Next: res.next, Alert: res.alert,
			Fleet: plan[j].Fleet, FleetSize: plan[j].Members, Checked: plan[j].Checked}
		if plan[j].Fleet != "" {
			items[j].Note = sum.Network
			grouped++
		}
	}
	if grouped > 0 {
		log.Warn("many instances changed the same way at once: one fleet message instead of one each",
			"instances", grouped, "checked", len(decided))
	}

	report := r.Outbox.Deliver(ctx, log, items, start, lease)
	for j, i := range decided {
		results[i].delivery = report.Results[j]
		results[i].next = report.Results[j].State
	}
	sum.FleetAlerts = report.Fleets
	sum.AlertsPublished += report.Fleets

	r.count(results, &sum)
	var exhausted []string
	for i := range results {
		res := &results[i]
		if res.skipped && res.notChecked != "" {
			log.Error("instance not checked", "instance", res.target.Name, "reason", res.notChecked)
			exhausted = append(exhausted, res.target.Name)
			continue
		}
		if res.skipped {
			log.Error("instance not checked before the deadline", "instance", res.target.Name)
			continue
		}
		r.logInstance(log, res)
		d := res.delivery
		if d.Merged > 0 {
			log.Warn("undelivered alerts merged although they may have been published: subscribers may see their changes twice",
				"instance", res.target.Name, "alerts", d.Merged)
		}
		if d.Err == nil {
			continue
		}
		var se *deliver.StateError
		if errors.As(d.Err, &se) {
			fail.add(StateUnwritable, fmt.Errorf("%s: %w", res.target.Name, d.Err))
		} else {
			fail.add(AlertsUndelivered, fmt.Errorf("%s: %w", res.target.Name, d.Err))
		}
	}
	if late := sum.Skipped - len(exhausted); late > 0 {
		var lateNames []string
		for _, n := range sum.SkippedInstances {
			if !slices.Contains(exhausted, n) {
				lateNames = append(lateNames, n)
			}
		}
		fail.add(DeadlineReached, fmt.Errorf("%d of %d instances were not checked before the deadline (%s): raise the function's timeout or MAX_CONCURRENCY, or split the fleet over several schedules",
			late, len(results), names(lateNames, 10)))
	}
	if len(exhausted) > 0 {
		fail.add(OutOfFiles, fmt.Errorf("%d of %d instances were not checked: the function ran out of open files (%s); they are not called down. Lower MAX_CONCURRENCY",
			len(exhausted), len(results), names(exhausted, 10)))
	}
	r.pushMetrics(ctx, log, targetsPath, results, &sum, false)
	return done()
}

// check checks targets, concurrently; those not reached before the deadline
// stay skipped.
func (r *Runner) check(checkCtx context.Context, log *slog.Logger, targets []monitor.Target, now time.Time) []result {
	results := make([]result, len(targets))
	for i, t := range targets {
		results[i] = result{target: t, skipped: true}
		if strings.HasPrefix(t.URL, "http://") {
			if _, warned := r.warnedHTTP.LoadOrStore(t.Key, true); !warned {
				log.Warn("instance is checked over plain http; use https", "instance", t.Name, "parameter", t.Key+"/url")
			}
		}
	}
	r.each(checkCtx, len(targets), r.concurrency(targets), func(i int) { r.observe(checkCtx, &results[i], now) })
	r.Checker.CloseIdleConnections()
	return results
}

// refresh reads the targets again after the marker moved, checks the new and
// changed ones, drops the removed ones, and reads the new ones' states.
func (r *Runner) refresh(ctx, checkCtx context.Context, log *slog.Logger, path string, now time.Time,
	old monitor.Listing, results []result, states map[string]monitor.State) ([]result, map[string]monitor.State, monitor.Listing, error) {
	fresh, err := r.readTargets(ctx, path, now)
	if err != nil {
		return results, states, old, err
	}
	changed, gone := diff(old.Targets, fresh.listing.Targets)
	redo := map[string]bool{}
	for _, t := range changed {
		redo[t.Key] = true
	}
	var kept []result
	for _, res := range results {
		if !gone[res.target.Key] && !redo[res.target.Key] {
			kept = append(kept, res)
		}
	}
	log.Info("targets changed since they were read: read again", "new or changed", len(changed), "removed", len(gone))
	if len(changed) == 0 {
		return kept, states, fresh.listing, nil
	}
	more, _, err := r.States.Snapshot(ctx, keysOf(changed))
	if err != nil {
		return results, states, old, &kindError{StateUnreadable, fmt.Errorf("read the states of the changed targets: %w", err)}
	}
	for k, s := range more {
		states[k] = s
	}
	kept = append(kept, r.check(checkCtx, log, changed, now)...)
	slices.SortFunc(kept, func(a, b result) int { return strings.Compare(a.target.Name, b.target.Name) })
	return kept, states, fresh.listing, nil
}

func keysOf(ts []monitor.Target) []string {
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = t.Key
	}
	return keys
}

// networkHint says, when most instances checked could not be reached at all
// while AWS answered (the state was read), that the function's own network
// is the likeliest cause, and where the function runs.
func (r *Runner) networkHint(results []result) string {
	checked, unreachable := 0, 0
	for _, res := range results {
		if res.skipped {
			continue
		}
		checked++
		if res.obs.Unreachable {
			unreachable++
		}
	}
	if unreachable == 0 || unreachable*2 <= checked {
		return ""
	}
	where := "outside any VPC"
	if len(r.Subnets) > 0 {
		where = "in subnets " + strings.Join(r.Subnets, ", ")
	}
	return fmt.Sprintf("%d of the %d instances checked could not be reached at all (DNS or connection errors) while AWS answered: "+
		"the function, which runs %s, may not be able to reach the instances' network. Check the subnets' routes to ProGet, "+
		"the security groups on both sides, and DNS for the instances' names (README: Watching instances on a private network).",
		unreachable, checked, where)
}

// noTargets says why a path gave nothing to check.
func noTargets(path string, l monitor.Listing) error {
	switch {
	case l.Parameters == 0:
		return fmt.Errorf("no parameter under %s: put each instance's url at %s<name>/url, or fix TARGETS_PATH (or the event's targetsPath)", path, path)
	case len(l.Invalid) > 0:
		var params []string
		for _, iv := range l.Invalid {
			params = append(params, iv.Parameter+" ("+iv.Reason+")")
		}
		return fmt.Errorf("none of the %d parameters under %s makes an instance that can be checked: %s", l.Parameters, path, names(params, 5))
	default:
		return fmt.Errorf("none of the %d parameters under %s is an instance's url (found %s): each instance needs %s<name>/url",
			l.Parameters, path, names(l.Sample, 5), path)
	}
}

func names(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(" and %d more", len(xs)-n)
}

func (r *Runner) reportInvalid(log *slog.Logger, l monitor.Listing, sum *Summary) {
	for _, iv := range l.Invalid {
		if iv.Checked {
			log.Warn("invalid optional setting", "instance", iv.Name, "parameter", iv.Parameter, "reason", iv.Reason)
			continue
		}
		sum.InvalidTargets++
		log.Warn("instance skipped: invalid configuration", "instance", iv.Name, "parameter", iv.Parameter, "reason", iv.Reason)
	}
}

// observe checks one instance. A check cut short by the run's deadline is not
// evidence of anything: the instance stays skipped.
func (r *Runner) observe(checkCtx context.Context, res *result, now time.Time) {
	if checkCtx.Err() != nil {
		return
	}
	obs := r.Checker.Check(checkCtx, res.target)
	if checkCtx.Err() != nil {
		return
	}
	if obs.NotChecked != "" {
		res.notChecked = obs.NotChecked
		return
	}
	obs.Time = now
	res.obs, res.skipped = obs, false
	res.until = res.target.Maintenance.Until(now)
}

// count fills the summary's counts.
func (r *Runner) count(results []result, sum *Summary) {
	for _, res := range results {
		if res.skipped {
			sum.Skipped++
			sum.SkippedInstances = append(sum.SkippedInstances, res.target.Name)
			continue
		}
		sum.Checked++
		switch {
		case !res.obs.Up():
			sum.Down++
			sum.Unhealthy++
		case res.obs.Healthy():
			sum.Healthy++
		default:
			sum.Unhealthy++
		}
		if !res.until.IsZero() {
			sum.InMaintenance = append(sum.InMaintenance, Maintenance{Instance: res.target.Name, Until: res.until})
		}
		if alerting(res) {
			sum.Alerting++
		}
		d := res.delivery
		if d.Claimed {
			sum.Changed++
		}
		if d.Conflict {
			sum.Conflicts++
		}
		sum.AlertsPublished += d.Published
		sum.AlertsPending += d.Pending
	}
}

// alerting is an instance confirmed critical outside maintenance: what pages.
func alerting(res result) bool {
	return !res.skipped && res.until.IsZero() && monitor.Critical(res.next)
}

// pushMetrics publishes what the run saw; a failure is reported, not fatal.
func (r *Runner) pushMetrics(ctx context.Context, log *slog.Logger, path string, results []result, sum *Summary, stateUnknown bool) {
	if r.Metrics == nil {
		return
	}
	run := metrics.Run{TargetsPath: path, Invalid: sum.InvalidTargets, Skipped: sum.Skipped, StateUnknown: stateUnknown}
	for _, res := range results {
		if !res.skipped {
			run.Checked = append(run.Checked, metrics.Instance{Observation: res.obs, Alerting: alerting(res), InMaintenance: !res.until.IsZero()})
		}
	}
	n, err := r.Metrics.Push(ctx, run)
	sum.MetricsPublished = n
	if err != nil {
		sum.addError(err.Error())
		log.Error("metrics not published; alerts and state are unaffected", "error", err)
	}
}

// checkContext bounds the checks so that enough time is left, before the Lambda
// deadline, to store state, deliver alerts and push metrics for what was checked.
func checkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(deadline)
	reserve := min(3*time.Second, left/4)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// leaseUntil is until when this run, started at now, may hold an instance's
// outbox: its own deadline, after which another run may deliver what it left.
func leaseUntil(ctx context.Context, now time.Time) time.Time {
	if deadline, ok := ctx.Deadline(); ok {
		return now.Add(time.Until(deadline))
	}
	return now.Add(defaultLease)
}

// each runs f for indexes 0..n-1, at most limit at a time; those not started
// before ctx ends are left alone.
func (*Runner) each(ctx context.Context, n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
