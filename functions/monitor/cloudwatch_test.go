package main

import (
	"maps"
	"strings"
	"testing"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
)

// The pager watches confirmed problems: a one-run flap below the threshold
// does not page; a confirmed database error does, fleet-wide and for its
// instance.
func TestConfirmedMetricsPageOnlyForConfirmedProblems(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"FAILURE_THRESHOLD": "2"})
		w.mustRun()
		w.proget["prod-eu"].SetDatabaseError("blip")
		w.mustRun()
		w.proget["prod-eu"].SetDatabaseError("")
		w.mustRun()
		if n, max := w.metricStats("InstancesAlerting", "TargetsPath", w.path); n != 3 || max != 0 {
			t.Errorf("after a one-run flap: InstancesAlerting %d samples, max %g; want 3 samples of 0", n, max)
		}
		if _, max := w.metricStats("InstancesUnhealthy", "TargetsPath", w.path); max != 1 {
			t.Errorf("the raw InstancesUnhealthy must show the flap: max %g", max)
		}
		w.proget["prod-eu"].SetDatabaseError("SQL down")
		w.mustRun()
		w.mustRun()
		if _, max := w.metricStats("InstancesAlerting", "TargetsPath", w.path); max != 1 {
			t.Errorf("a confirmed database error: InstancesAlerting max %g, want 1", max)
		}
		if n, max := w.metricStats("Alerting", "Instance", "prod-eu"); n != 5 || max != 1 {
			t.Errorf("Alerting{prod-eu}: %d samples, max %g; want one every run, reaching 1", n, max)
		}
		if n, max := w.metricStats("Alerting", "Instance", "prod-us"); n != 5 || max != 0 {
			t.Errorf("Alerting{prod-us}: %d samples, max %g; want 0 every run", n, max)
		}
	})
}

// Maintenance and warnings never page.
func TestMaintenanceAndWarningsDoNotPage(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"TARGETS_CACHE_TTL": "0s"})
		w.putParam(w.path+"prod-eu/maintenance", "daily 00:00-23:59 UTC", false)
		w.mustRun()
		w.proget["prod-eu"].Stop()
		w.proget["build-eu"].SetAPIKey("another-key") // the configured key is rejected: a warning
		got := w.mustRun()
		expectSubjects(t, "a rejected key", got, "ProGet build-eu: API key rejected")
		if _, max := w.metricStats("InstancesAlerting", "TargetsPath", w.path); max != 0 {
			t.Errorf("InstancesAlerting max %g: maintenance and warnings must not page", max)
		}
		if _, max := w.metricStats("InstancesInMaintenance", "TargetsPath", w.path); max != 1 {
			t.Errorf("InstancesInMaintenance max %g, want 1", max)
		}
		if _, max := w.metricStats("Alerting", "Instance", "prod-eu"); max != 0 {
			t.Errorf("Alerting{prod-eu} in maintenance: max %g", max)
		}
	})
}

// What each metric level costs: the series a run publishes per instance,
// exactly (the README's cost table counts them). build-eu is ProGet 2023
// with an API key and three connectors; prod-eu and prod-us are 2024 and
// 2026, without connector health.
func TestSeriesPerInstanceAtEachLevel(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		for level, want := range map[string]map[string]int{
			"fleet":    {"build-eu": 0, "prod-eu": 0, "prod-us": 0},
			"instance": {"build-eu": 2, "prod-eu": 2, "prod-us": 2},
			"full":     {"build-eu": 11, "prod-eu": 7, "prod-us": 7},
		} {
			w := newWorld(t, b, map[string]string{"METRICS": level})
			w.mustRun()
			perInstance := map[string]int{}
			fleet := 0
			for s := range w.series() {
				switch {
				case strings.Contains(s, "Instance="):
					i := strings.Index(s, "Instance=")
					perInstance[strings.TrimSuffix(s[i+len("Instance="):], "}")]++
				case strings.Contains(s, "TargetsPath="):
					fleet++
				}
			}
			if fleet != 6 {
				t.Errorf("%s: %d fleet series, want 6", level, fleet)
			}
			if !maps.Equal(perInstance, want) && !(level == "fleet" && len(perInstance) == 0) {
				t.Errorf("%s: series per instance %v, want %v", level, perInstance, want)
			}
		}
	})
}
