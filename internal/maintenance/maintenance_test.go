package maintenance

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, s string) Schedule {
	t.Helper()
	sch, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func instant(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestActive(t *testing.T) {
	utc := func(s string) time.Time { return instant(t, s) }
	cases := []struct {
		schedule string
		at       string
		want     bool
	}{
		{"2026-11-24T22:00:00Z", "2026-11-24T21:59:59Z", true},
		{"2026-11-24T22:00:00Z", "2026-11-24T22:00:00Z", false},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-11-29T01:30:00Z", true}, // 02:30 CET
		{"Sun 02:00-04:00 Europe/Berlin", "2026-11-29T03:00:00Z", false},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-11-30T01:30:00Z", false}, // a Monday
		// Summer time: 02:30 CEST is 00:30 UTC.
		{"Sun 02:00-04:00 Europe/Berlin", "2026-07-05T00:30:00Z", true},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-07-05T02:30:00Z", false},
		// The night the clocks go forward (29 March 2026, 02:00 -> 03:00 CEST):
		// the window runs from the skipped 02:00 (that is 03:00 CEST) to 04:00 CEST.
		{"Sun 02:00-04:00 Europe/Berlin", "2026-03-29T00:59:00Z", false},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-03-29T01:30:00Z", true},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-03-29T02:00:00Z", false},
		// The night they go back (25 October 2026, 03:00 CEST -> 02:00 CET): 02:00
		// CEST to 04:00 CET is three hours.
		{"Sun 02:00-04:00 Europe/Berlin", "2026-10-25T00:00:00Z", true},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-10-25T02:30:00Z", true},
		{"Sun 02:00-04:00 Europe/Berlin", "2026-10-25T03:00:00Z", false},
		// Across midnight: Friday 22:30 to Saturday 01:00 New York time.
		{"Mon-Fri 22:30-01:00 America/New_York", "2026-11-28T05:30:00Z", true},  // Sat 00:30
		{"Mon-Fri 22:30-01:00 America/New_York", "2026-11-29T05:30:00Z", false}, // Sun 00:30
		{"Mon-Fri 22:30-01:00 America/New_York", "2026-11-23T03:00:00Z", false}, // Sun 22:00
		{"daily 03:00-03:30 UTC; Sat 08:00-12:00 UTC", "2026-11-24T03:10:00Z", true},
		{"daily 03:00-03:30 UTC; Sat 08:00-12:00 UTC", "2026-11-28T09:00:00Z", true},
		{"daily 03:00-03:30 UTC; Sat 08:00-12:00 UTC", "2026-11-27T09:00:00Z", false},
		{"Sat,Sun 00:00-24:00 UTC", "2026-11-29T23:59:00Z", true},
		{"", "2026-11-29T23:59:00Z", false},
	}
	for _, tc := range cases {
		if got := mustParse(t, tc.schedule).Active(utc(tc.at)); got != tc.want {
			t.Errorf("%q at %s: active=%v, want %v", tc.schedule, tc.at, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"tomorrow":                     "a window is <days>",
		"Sun 2am-4am UTC":              `"2am" is not a time of day`,
		"Sun 02:00-02:00 UTC":          "is empty",
		"Sonntag 02:00-04:00 UTC":      `unknown day "sonntag"`,
		"Sun 02:00-04:00 Mars/Olympus": `unknown time zone "Mars/Olympus"`,
		"Sun 02:00-04:00 UTC; garbage": "RFC 3339 end time",
		"2026-11-24 22:00":             "a window is",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

// Windows that follow one another without a gap are one maintenance: Until
// says when the last one ends.
func TestUntil(t *testing.T) {
	at := func(s string) time.Time { return instant(t, s) }
	for _, tc := range []struct{ schedule, at, want string }{
		{"Sat 22:00-24:00 UTC; Sun 00:00-04:00 UTC", "2026-11-28T23:00:00Z", "2026-11-29T04:00:00Z"},
		{"Sat 22:00-24:00 UTC; Sun 00:00-04:00 UTC", "2026-11-29T01:00:00Z", "2026-11-29T04:00:00Z"},
		{"Sun 02:00-04:00 UTC", "2026-11-29T03:00:00Z", "2026-11-29T04:00:00Z"},
		{"Sun 02:00-04:00 UTC", "2026-11-29T05:00:00Z", ""},
		{"2026-11-24T22:00:00Z", "2026-11-24T21:00:00Z", "2026-11-24T22:00:00Z"},
	} {
		got := mustParse(t, tc.schedule).Until(at(tc.at))
		want := time.Time{}
		if tc.want != "" {
			want = at(tc.want)
		}
		if !got.Equal(want) {
			t.Errorf("%q at %s: until %v, want %v", tc.schedule, tc.at, got, want)
		}
	}
	// Never ending: about a week, not forever.
	if got := mustParse(t, "daily 00:00-24:00 UTC").Until(at("2026-11-28T12:00:00Z")); got.Sub(at("2026-11-28T12:00:00Z")) > 8*24*time.Hour {
		t.Errorf("an endless schedule: until %v", got)
	}
}
