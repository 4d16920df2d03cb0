package run

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kinds of run failure: the error type a caller (the Lambda service, a person
// invoking by hand) sees, so that what failed is clear without reading on.
const (
	TargetsUnreadable = "TargetsUnreadable" // SSM could not be read: nothing was checked
	NoTargets         = "NoTargets"         // the path holds no instance that can be checked
	StateUnreadable   = "StateUnreadable"   // DynamoDB could not be read: nothing was alerted
	StateUnwritable   = "StateUnwritable"   // a state could not be written: its change is decided again next run
	AlertsUndelivered = "AlertsUndelivered" // SNS did not take an alert: it stays pending
	DeadlineReached   = "DeadlineReached"   // instances were not checked before the function's deadline
	OutOfFiles        = "OutOfFiles"        // instances were not checked: the function ran out of open files
)

// Error is a run that failed, or did not do all its work. Kind is the first
// of the kinds above that applies; the message lists every problem.
type Error struct {
	Kind string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// failures collects a run's problems by kind.
type failures struct {
	kinds []string
	errs  []error
}

func (f *failures) add(kind string, err error) {
	f.kinds = append(f.kinds, kind)
	f.errs = append(f.errs, err)
}

var kindOrder = []string{TargetsUnreadable, NoTargets, StateUnreadable, StateUnwritable, AlertsUndelivered, DeadlineReached, OutOfFiles}

func (f *failures) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	kind := f.kinds[0]
	for _, k := range kindOrder {
		if slices.Contains(f.kinds, k) {
			kind = k
			break
		}
	}
	if len(f.errs) == 1 {
		return &Error{Kind: kind, Err: f.errs[0]}
	}
	// A whole fleet failing would make an error of megabytes: the first
	// problems, the gravest kinds first, say what failed; each instance's log
	// line says what failed for it.
	order := make([]int, len(f.errs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rank(f.kinds[a]) - rank(f.kinds[b]) })
	var msgs []string
	for _, i := range order[:min(len(order), maxProblemsShown)] {
		msg := f.errs[i].Error()
		if len(msg) > maxProblemBytes {
			msg = msg[:maxProblemBytes] + "..."
		}
		msgs = append(msgs, msg)
	}
	if more := len(f.errs) - len(msgs); more > 0 {
		msgs = append(msgs, fmt.Sprintf("and %d more", more))
	}
	return &Error{Kind: kind, Err: &joined{msg: fmt.Sprintf("%d problems: %s", len(f.errs), strings.Join(msgs, "; ")), errs: f.errs}}
}

const (
	maxProblemsShown = 20
	maxProblemBytes  = 1000
)

func rank(kind string) int {
	if i := slices.Index(kindOrder, kind); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// joined keeps every problem for errors.Is and errors.As, and says only the
// first ones.
type joined struct {
	msg  string
	errs []error
}

func (j *joined) Error() string   { return j.msg }
func (j *joined) Unwrap() []error { return j.errs }

// kindError is a step's error that says its kind.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// KindOf is the kind of a run error, or "" for any other error.
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
