package run

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A whole fleet failing makes an error that names the first problems and
// counts the rest, and still answers errors.As for each.
func TestRunErrorIsBounded(t *testing.T) {
	var f failures
	target := errors.New("ProvisionedThroughputExceededException")
	for i := range 1000 {
		f.add(StateUnwritable, fmt.Errorf("state of prod-%04d: %w", i, target))
	}
	f.add(TargetsUnreadable, errors.New("read targets under /proget/: AccessDenied"))
	err := f.err()
	msg := err.Error()
	if KindOf(err) != TargetsUnreadable || len(msg) > 4096 || !strings.HasPrefix(msg, "1001 problems: read targets under /proget/: AccessDenied; ") ||
		!strings.HasSuffix(msg, "; and 981 more") {
		t.Errorf("kind %s, %d bytes: %.300s", KindOf(err), len(msg), msg)
	}
	if !errors.Is(err, target) {
		t.Errorf("the problems left out of the text must still be in the error")
	}
}
