package main

import (
	"strings"
	"testing"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
)

// When most instances cannot be reached at all while AWS answers, the run
// says once that the function's own network is suspect, naming where it
// runs, and the fleet message says so too.
func TestUnreachableFleetPointsAtTheFunctionsNetwork(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		for _, tc := range []struct {
			env   map[string]string
			where string
		}{
			{nil, "outside any VPC"},
			{map[string]string{"SUBNET_IDS": "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788"},
				"in subnets subnet-0a1b2c3d4e5f60718, subnet-0f1e2d3c4b5a69788"},
		} {
			w := newWorld(t, b, tc.env)
			w.mustRun()
			if w.summary.Network != "" {
				t.Errorf("a healthy fleet: %q", w.summary.Network)
			}
			for _, in := range w.proget {
				in.Stop()
			}
			got := w.mustRun()
			if !strings.Contains(w.summary.Network, "3 of the 3 instances checked could not be reached") || !strings.Contains(w.summary.Network, tc.where) {
				t.Errorf("summary's network: %q, want it to name where the function runs (%s)", w.summary.Network, tc.where)
			}
			if n := strings.Count(w.logs.String(), "the instances' network looks out of the function's reach"); n != 1 {
				t.Errorf("said %d times in the log, want once", n)
			}
			expectSubjects(t, "fleet down", got, "ProGet monitor: 3 of 3 instances DOWN at once")
			if len(got) == 1 && !strings.Contains(got[0].Message, tc.where) {
				t.Errorf("the fleet message does not say where the function runs:\n%s", got[0].Message)
			}
			w.start(w.proget["prod-us"])
			w.mustRun()
			if w.summary.Network == "" {
				t.Errorf("2 of 3 still unreachable: the hint must stay")
			}
			w.start(w.proget["prod-eu"])
			w.mustRun()
			if w.summary.Network != "" {
				t.Errorf("1 of 3 unreachable is that instance's problem, not the function's: %q", w.summary.Network)
			}
		}
	})
}
