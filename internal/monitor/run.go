package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// The adapters a run needs, declared here where they are used.
type (
	// TargetSource lists the instances under a path.
	TargetSource interface {
		Load(ctx context.Context, path string) ([]Target, []InvalidTarget, error)
	}
	// Checker observes one instance; it never fails, problems are statuses.
	Checker interface {
		Check(ctx context.Context, t Target) Observation
	}
	// StateStore remembers instances between runs. Save writes only if the stored
	// version is still s.Version, returns the new version, or ErrConflict.
	StateStore interface {
		Load(ctx context.Context, keys []string) (map[string]State, error)
		Save(ctx context.Context, s State) (int64, error)
	}
	// Publisher delivers one alert.
	Publisher interface {
		Publish(ctx context.Context, a Alert) error
		PublishFleet(ctx context.Context, fa FleetAlert) error
	}
	// MetricsSink publishes a run's observations as metrics and says how many datums it sent.
	MetricsSink interface {
		Push(ctx context.Context, obs []Observation) (int, error)
	}
)

// Runner runs one check of a fleet: read targets, load state, check every
// instance concurrently, decide, store, alert, push metrics.
type Runner struct {
	Targets   TargetSource
	Checker   Checker
	Store     StateStore
	Publisher Publisher
	Metrics   MetricsSink
	Policy    Policy
	Storm     StormPolicy

	// StateTTL is how long an instance's state outlives its last write; it is
	// refreshed once less than half of it is left.
	StateTTL time.Duration
	// MaxConcurrency bounds how many instances are checked at once.
	MaxConcurrency int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	warnedHTTP sync.Map // instance keys already warned about plain http, once per process
}

// Defaults for settings left at zero.
const (
	DefaultStateTTL       = 30 * 24 * time.Hour
	DefaultMaxConcurrency = 128
	// defaultLease bounds how long a run holds an outbox when its context has no deadline.
	defaultLease = 5 * time.Minute
)

// Summary is what a run reports; the Lambda returns it as JSON.
type Summary struct {
	TargetsPath      string   `json:"targetsPath"`
	Checked          int      `json:"checked"`
	Healthy          int      `json:"healthy"`
	Unhealthy        int      `json:"unhealthy"`
	Down             int      `json:"down"`
	Changed          int      `json:"changed"`
	AlertsPublished  int      `json:"alertsPublished"`
	AlertsPending    int      `json:"alertsPending"`
	InvalidTargets   int      `json:"invalidTargets"`
	Skipped          int      `json:"skipped"`
	Conflicts        int      `json:"conflicts"`
	MetricsPublished int      `json:"metricsPublished"`
	Errors           []string `json:"errors"`
	DurationMs       int64    `json:"durationMs"`
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

// Run checks every instance under targetsPath. It returns an error (after doing
// all it can) when the run could not be trusted or left work undone: targets or
// state unreadable, state unwritable, an alert not delivered, instances not
// checked before the deadline. Metrics failures are reported, not fatal: alerts
// and state matter more, and a heartbeat alarm notices missing metrics.
func (r *Runner) Run(ctx context.Context, log *slog.Logger, targetsPath string) (Summary, error) {
	start := r.now()
	sum := Summary{TargetsPath: targetsPath, Errors: []string{}}
	done := func(err error) (Summary, error) {
		sum.DurationMs = r.now().Sub(start).Milliseconds()
		log.Info("run finished", "summary", sum)
		return sum, err
	}

	targets, invalid, err := r.Targets.Load(ctx, targetsPath)
	if err != nil {
		err = fmt.Errorf("%w; check that the path exists and the function may read it (ssm:GetParametersByPath, kms:Decrypt)", err)
		sum.addError(err.Error())
		log.Error("cannot read targets: nothing was checked", "error", err)
		return done(err)
	}
	for _, iv := range invalid {
		if iv.Checked {
			log.Warn("invalid optional setting", "instance", iv.Name, "parameter", iv.Parameter, "reason", iv.Reason)
			continue
		}
		sum.InvalidTargets++
		log.Warn("instance skipped: invalid configuration", "instance", iv.Name, "parameter", iv.Parameter, "reason", iv.Reason)
	}
	if len(targets) == 0 {
		log.Warn("no instances to check", "targetsPath", targetsPath)
	}

	keys := make([]string, len(targets))
	for i, t := range targets {
		keys[i] = t.Key
		if strings.HasPrefix(t.URL, "http://") {
			if _, warned := r.warnedHTTP.LoadOrStore(t.Key, true); !warned {
				log.Warn("instance is checked over plain http; use https", "instance", t.Name, "parameter", t.Key+"/url")
			}
		}
	}
	// The previous state is read while the instances are checked.
	var states map[string]State
	loaded := make(chan error, 1)
	go func() {
		var err error
		states, err = r.Store.Load(ctx, keys)
		loaded <- err
	}()

	checkCtx, cancelChecks := r.checkContext(ctx)
	defer cancelChecks()
	lease := r.leaseUntil(ctx, start)

	// Phase 1: check every instance, concurrently, then decide. An instance not
	// reached before the deadline stays skipped.
	results := make([]result, len(targets))
	for i := range results {
		results[i].skipped = true
	}
	r.each(checkCtx, targets, func(i int, t Target) {
		results[i] = r.observe(checkCtx, t, start)
	})
	if err := <-loaded; err != nil {
		// Without the previous state every decision would be a guess: alert
		// nothing. The metrics do not depend on it.
		sum.addError(err.Error())
		log.Error("cannot read state: no alert is sent on a guess", "error", err)
		r.pushMetrics(ctx, log, results, &sum)
		return done(err)
	}
	for i, t := range targets {
		if res := &results[i]; !res.skipped {
			res.prev = states[t.Key]
			res.next, res.alert = Decide(res.prev, res.obs, r.Policy)
		}
	}
	// Phase 2: a fleet-wide outage is one message, not one per instance.
	if storm := r.Storm.affected(results); storm != nil {
		for _, i := range storm {
			results[i].alert.Fleet = true
		}
		log.Warn("many instances changed state at once for network reasons: one fleet alert instead of one each",
			"instances", len(storm), "checked", countChecked(results))
	}
	// Phase 3: claim and deliver, concurrently.
	r.each(ctx, targets, func(i int, t Target) {
		if !results[i].skipped {
			r.settle(ctx, log, t, &results[i], lease)
		}
	})
	// Phase 4: the fleet alerts this run claimed, in one message.
	r.deliverFleet(ctx, log, targets, results, countChecked(results), start)

	var errs []error
	for i, res := range results {
		if res.skipped {
			sum.Skipped++
			continue
		}
		sum.Checked++
		switch {
		case !res.obs.Up:
			sum.Down++
			sum.Unhealthy++
		case res.obs.Healthy():
			sum.Healthy++
		default:
			sum.Unhealthy++
		}
		if res.claimed {
			sum.Changed++
		}
		if res.conflict {
			sum.Conflicts++
		}
		sum.AlertsPublished += res.published
		sum.AlertsPending += res.pending
		if res.err != nil {
			errs = append(errs, res.err)
			sum.addError(fmt.Sprintf("%s: %v", targets[i].Name, res.err))
		}
	}
	for _, res := range results {
		if res.fleetPublished {
			sum.AlertsPublished++ // one message for all
			break
		}
	}
	if sum.Skipped > 0 {
		err := fmt.Errorf("%d of %d instances were not checked before the deadline: raise the function's timeout, MAX_CONCURRENCY, or split the fleet over several schedules", sum.Skipped, len(targets))
		errs = append(errs, err)
		sum.addError(err.Error())
		log.Error("instances not checked", "skipped", sum.Skipped, "error", err)
	}

	r.pushMetrics(ctx, log, results, &sum)
	return done(errors.Join(errs...))
}

// pushMetrics publishes what the checks saw; a failure is reported, not fatal.
func (r *Runner) pushMetrics(ctx context.Context, log *slog.Logger, results []result, sum *Summary) {
	if r.Metrics == nil {
		return
	}
	var observed []Observation
	for _, res := range results {
		if !res.skipped {
			observed = append(observed, res.obs)
		}
	}
	n, err := r.Metrics.Push(ctx, observed)
	sum.MetricsPublished = n
	if err != nil {
		sum.addError(err.Error())
		log.Error("metrics not published; alerts and state are unaffected", "error", err)
	}
}

// checkContext bounds the checks so that enough time is left, before the Lambda
// deadline, to store state and push metrics for what was checked.
func (r *Runner) checkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(deadline)
	reserve := min(3*time.Second, left/4)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// leaseUntil is how long this run may hold an instance's outbox: until its own
// deadline, after which another run may deliver what it left.
func (r *Runner) leaseUntil(ctx context.Context, now time.Time) time.Time {
	if deadline, ok := ctx.Deadline(); ok {
		return now.Add(time.Until(deadline))
	}
	return now.Add(defaultLease)
}

// each runs f for every target, at most MaxConcurrency at a time; targets not
// started before ctx ends are left alone.
func (r *Runner) each(ctx context.Context, targets []Target, f func(i int, t Target)) {
	n := r.MaxConcurrency
	if n <= 0 {
		n = DefaultMaxConcurrency
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i, t)
		})
	}
	wg.Wait()
}

type result struct {
	obs     Observation
	prev    State
	next    State
	alert   *Alert
	skipped bool

	claimed        bool // this run stored a new alert for the instance
	conflict       bool
	published      int
	pending        int
	fleet          []Alert // claimed fleet alerts, delivered in phase 4
	fleetPublished bool
	err            error
}

// observe checks one instance. A check cut short by the run's deadline is not
// evidence of anything: the instance is skipped.
func (r *Runner) observe(checkCtx context.Context, t Target, now time.Time) result {
	if checkCtx.Err() != nil {
		return result{skipped: true}
	}
	obs := r.Checker.Check(checkCtx, t)
	if checkCtx.Err() != nil {
		return result{skipped: true}
	}
	obs.Time = now
	return result{obs: obs}
}

func countChecked(results []result) int {
	n := 0
	for _, r := range results {
		if !r.skipped {
			n++
		}
	}
	return n
}

// logInstance writes the one line per instance per run.
func (r *Runner) logInstance(log *slog.Logger, res *result) {
	o := res.obs
	var bad []string
	for _, rd := range o.Readings() {
		if !rd.Status.Healthy() {
			bad = append(bad, rd.Component+"="+string(rd.Status))
		}
	}
	attrs := []any{"instance", o.Target.Name, "up", o.Up, "healthy", o.Healthy(),
		"httpStatus", o.HTTPStatus, "responseMs", o.ResponseTime.Milliseconds(),
		"connectors", string(o.Connectors.Status), "connectorCount", len(o.ConnectorList)}
	if len(bad) > 0 {
		attrs = append(attrs, "problems", strings.Join(bad, ","))
	}
	if !o.Up {
		attrs = append(attrs, "reason", o.Reason)
	}
	if o.Connectors.Status == StatusRejected {
		attrs = append(attrs, "connectorsDetail", o.Connectors.Detail)
	}
	if res.claimed {
		attrs = append(attrs, "alerted", true)
	}
	if res.err != nil {
		log.Error("instance checked", append(attrs, "error", res.err.Error())...)
		return
	}
	log.Info("instance checked", attrs...)
}
