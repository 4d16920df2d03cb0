package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/render"
)

func TestFleetOutageIsOneMessage(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		for _, in := range w.proget {
			in.Stop()
		}
		got := w.mustRun()
		expectSubjects(t, "all down at once", got, "ProGet monitor: 3 of 3 instances DOWN at once")
		if len(got) == 1 {
			if got[0].Attributes[render.AttrInstance] != `["build-eu","prod-eu","prod-us"]` || got[0].Attributes[render.AttrSeverity] != "critical" ||
				got[0].Attributes[render.AttrKind] != "fleet" {
				t.Errorf("fleet attributes %v", got[0].Attributes)
			}
			if !strings.Contains(got[0].Message, "monitor's own connectivity") {
				t.Errorf("the fleet text does not say the likeliest cause:\n%s", got[0].Message)
			}
		}
		for name := range w.proget {
			if st := w.stored(name); st.Components["instance"].Status != "Down" || len(st.Outbox) != 0 {
				t.Errorf("%s: state %+v", name, st.Components["instance"])
			}
		}
		expectSubjects(t, "still down", w.mustRun())
		for _, in := range w.proget {
			if err := in.Start(); err != nil {
				t.Fatal(err)
			}
		}
		expectSubjects(t, "all back", w.mustRun(), "ProGet monitor: 3 instances recovered")
		w.proget["prod-us"].Stop()
		expectSubjects(t, "one down is not a storm", w.mustRun(), "ProGet prod-us: DOWN")
	})
}

func TestFleetGroupingCanBeSwitchedOff(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"STORM_PERCENT": "0"})
		w.mustRun()
		for _, in := range w.proget {
			in.Stop()
		}
		expectSubjects(t, "grouping off", w.mustRun(), "ProGet build-eu: DOWN", "ProGet prod-eu: DOWN", "ProGet prod-us: DOWN")
	})
}

func TestReminderWhileStillBad(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"REMINDER_INTERVAL": "12m"})
		w.mustRun()
		w.proget["prod-eu"].Stop()
		expectSubjects(t, "down", w.mustRun(), "ProGet prod-eu: DOWN")
		expectSubjects(t, "+5m", w.mustRun())
		expectSubjects(t, "+10m", w.mustRun())
		got := w.mustRun()
		expectSubjects(t, "+15m", got, "ProGet prod-eu: still DOWN (for 15m)")
		if len(got) == 1 && !strings.Contains(got[0].Message, "Reminder") {
			t.Errorf("the text does not say it is a reminder: %s", got[0].Message)
		}
		expectSubjects(t, "+20m", w.mustRun())
		if err := w.proget["prod-eu"].Start(); err != nil {
			t.Fatal(err)
		}
		expectSubjects(t, "back", w.mustRun(), "ProGet prod-eu: recovered")
	})
}

// Instances that went down together are reminded of together: one fleet
// reminder, not one per instance.
func TestRemindersOfAFleetAreOneMessage(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"REMINDER_INTERVAL": "1d"})
		w.mustRun()
		for _, in := range w.proget {
			in.Stop()
		}
		expectSubjects(t, "all down", w.mustRun(), "ProGet monitor: 3 of 3 instances DOWN at once")
		w.clock = w.clock.Add(24 * time.Hour)
		expectSubjects(t, "a day later", w.mustRun(), "ProGet monitor: 3 instances still DOWN (for 1d 0h)")
		expectSubjects(t, "reminded", w.mustRun())
	})
}

func TestFlappingInsideTheThresholdNeverAlerts(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, map[string]string{"FAILURE_THRESHOLD": "2", "RECOVERY_THRESHOLD": "2"})
		w.mustRun()
		for range 3 {
			w.proget["prod-eu"].SetDatabaseError("flap")
			expectSubjects(t, "flap bad", w.mustRun())
			w.proget["prod-eu"].SetDatabaseError("")
			expectSubjects(t, "flap good", w.mustRun())
		}
		w.proget["prod-eu"].SetDatabaseError("for real")
		expectSubjects(t, "bad once", w.mustRun())
		expectSubjects(t, "bad twice", w.mustRun(), "ProGet prod-eu: database Error")
		w.proget["prod-eu"].SetDatabaseError("")
		expectSubjects(t, "good once", w.mustRun())
		expectSubjects(t, "good twice", w.mustRun(), "ProGet prod-eu: recovered")
	})
}

func TestMaintenanceWindow(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		// Maintenance until 12 minutes from now: runs at +5 and +10 are inside.
		until := w.clock.Add(12 * time.Minute)
		w.putParam(w.path+"prod-eu/maintenance", until.Format(time.RFC3339), false)
		w.putParam(w.path+"prod-us/maintenance", until.Format(time.RFC3339), false)
		w.changed(w.path + "prod-eu/maintenance")
		w.proget["prod-eu"].Stop()
		w.proget["prod-us"].Stop()
		expectSubjects(t, "down during maintenance", w.mustRun())
		if w.summary.Down != 2 || len(w.summary.InMaintenance) != 2 || !w.summary.InMaintenance[0].Until.Equal(until) {
			t.Errorf("instances in maintenance are still checked, and the summary says until when: %+v", w.summary)
		}
		if !strings.Contains(w.logs.String(), `"maintenanceUntil":"`+until.Format(time.RFC3339)+`"`) {
			t.Errorf("the instance's log line does not say it is in maintenance")
		}
		if err := w.proget["prod-us"].Start(); err != nil { // fixed within the window
			t.Fatal(err)
		}
		expectSubjects(t, "still in maintenance", w.mustRun())
		expectSubjects(t, "maintenance over", w.mustRun(), "ProGet prod-eu: DOWN")
	})
}

func TestInvalidMaintenanceIsReportedAndIgnored(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.putParam(w.path+"prod-eu/maintenance", "sometime next week", false)
		w.mustRun()
		w.proget["prod-eu"].Stop()
		expectSubjects(t, "still alerted", w.mustRun(), "ProGet prod-eu: DOWN")
		if !strings.Contains(w.logs.String(), w.path+"prod-eu/maintenance") {
			t.Errorf("the wrong maintenance parameter is not named in the logs")
		}
	})
}

func TestVersionNotices(t *testing.T) {
	each(t, func(t *testing.T, b localaws.Backend) {
		w := newWorld(t, b, nil)
		w.mustRun()
		w.proget["build-eu"].SetRelease("24.0.3")
		got := w.mustRun()
		// ProGetCoreEx follows the release, so the extensions changed too.
		expectSubjects(t, "upgrade", got, "ProGet build-eu: now 24.0.3, extensions changed")
		if len(got) == 1 && got[0].Attributes[render.AttrSeverity] != "info" {
			t.Errorf("a version notice must be severity info: %v", got[0].Attributes)
		}
		w.proget["prod-us"].AddExtension("Azure", "2.0.1")
		expectSubjects(t, "extension", w.mustRun(), "ProGet prod-us: extensions changed")
		expectSubjects(t, "quiet", w.mustRun())

		off := newWorld(t, b, map[string]string{"VERSION_NOTICES": "false"})
		off.mustRun()
		off.proget["build-eu"].SetRelease("24.0.3")
		expectSubjects(t, "notices off", off.mustRun())
	})
}

// parameterChangeEvent is SSM's change event for one parameter, as
// EventBridge delivers it (see events/ssm-change.json).
func parameterChangeEvent(name string) string {
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "change-" + name + "-" + time.Now().Format(time.RFC3339Nano),
		"detail-type": "Parameter Store Change", "source": "aws.ssm", "time": "2026-11-24T09:00:00Z",
		"detail": map[string]string{"name": name, "type": "String", "operation": "Update"}})
	return string(b)
}
