package maintenance

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is when an instance is under maintenance. The zero Schedule never is.
type Schedule struct {
	until   time.Time // a one-off window that ends then
	windows []window
}

// window is a weekly window in wall-clock time of a zone: it starts on each of
// days at start and lasts until end (the next day's end if end <= start).
type window struct {
	days       [7]bool
	start, end int // minutes after midnight
	loc        *time.Location
}

// Parse reads a maintenance setting:
//
//	2026-11-24T22:00:00Z                         until this moment (RFC 3339)
//	Sun 02:00-04:00 Europe/Berlin                every Sunday, 02:00 to 04:00 Berlin time
//	Mon-Fri 22:30-01:00 America/New_York         weeknights, across midnight
//	daily 03:00-03:30 UTC; Sat 08:00-12:00 UTC   several windows
//
// Windows follow wall-clock time, so they stay put across daylight-saving changes.
func Parse(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Schedule{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Schedule{until: t}, nil
	}
	var sch Schedule
	for part := range strings.SplitSeq(s, ";") {
		w, err := parseWindow(strings.Fields(part))
		if err != nil {
			return Schedule{}, fmt.Errorf("%q: %w; write an RFC 3339 end time (2026-11-24T22:00:00Z) or windows like \"Sun 02:00-04:00 Europe/Berlin\"", strings.TrimSpace(part), err)
		}
		sch.windows = append(sch.windows, w)
	}
	return sch, nil
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseWindow(f []string) (window, error) {
	var w window
	if len(f) != 3 {
		return w, fmt.Errorf("a window is <days> <HH:MM>-<HH:MM> <time zone>")
	}
	if err := w.parseDays(strings.ToLower(f[0])); err != nil {
		return w, err
	}
	from, to, ok := strings.Cut(f[1], "-")
	var err error
	if !ok {
		return w, fmt.Errorf("%q is not HH:MM-HH:MM", f[1])
	}
	if w.start, err = clock(from); err != nil {
		return w, err
	}
	if w.end, err = clock(to); err != nil {
		return w, err
	}
	if w.start == w.end {
		return w, fmt.Errorf("the window %s is empty", f[1])
	}
	if w.loc, err = time.LoadLocation(f[2]); err != nil {
		return w, fmt.Errorf("unknown time zone %q (use an IANA name like Europe/Berlin, or UTC)", f[2])
	}
	return w, nil
}

func (w *window) parseDays(s string) error {
	if s == "daily" || s == "every" {
		w.days = [7]bool{true, true, true, true, true, true, true}
		return nil
	}
	for item := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		da, ok := dayNames[a]
		if !ok {
			return fmt.Errorf("unknown day %q (use Mon..Sun, Mon-Fri, Sat,Sun or daily)", a)
		}
		db := da
		if isRange {
			if db, ok = dayNames[b]; !ok {
				return fmt.Errorf("unknown day %q", b)
			}
		}
		for d := da; ; d = (d + 1) % 7 {
			w.days[d] = true
			if d == db {
				break
			}
		}
	}
	return nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return hh*60 + mm, nil
}

// Active reports whether t falls in the schedule.
func (s Schedule) Active(t time.Time) bool {
	if !s.until.IsZero() && t.Before(s.until) {
		return true
	}
	for _, w := range s.windows {
		if w.active(t) {
			return true
		}
	}
	return false
}

// Until is when the maintenance that t falls in ends, or the zero time when t
// is not in maintenance. Windows that overlap or follow one another without a
// gap (Sat 22:00-00:00, Sun 00:00-04:00) are one maintenance; one that never
// ends (every day 00:00-24:00) is given about a week.
func (s Schedule) Until(t time.Time) time.Time {
	end := s.end(t)
	for !end.IsZero() && end.Sub(t) < 7*24*time.Hour {
		next := s.end(end)
		if !next.After(end) {
			break
		}
		end = next
	}
	return end
}

// end is the latest end of the windows t falls in, or the zero time.
func (s Schedule) end(t time.Time) time.Time {
	var end time.Time
	if !s.until.IsZero() && t.Before(s.until) {
		end = s.until
	}
	for _, w := range s.windows {
		if e, ok := w.window(t); ok && e.After(end) {
			end = e
		}
	}
	return end
}

// End is the end of a one-off maintenance (an RFC 3339 setting), or zero.
func (s Schedule) End() time.Time { return s.until }

func (w window) active(t time.Time) bool {
	_, ok := w.window(t)
	return ok
}

// window returns the end of the occurrence of w that t falls in.
func (w window) window(t time.Time) (time.Time, bool) {
	local := t.In(w.loc)
	// A window that started yesterday may still be running.
	for back := 0; back <= 1; back++ {
		day := time.Date(local.Year(), local.Month(), local.Day()-back, 0, 0, 0, 0, w.loc)
		if !w.days[day.Weekday()] {
			continue
		}
		start := shift(at(day, w.start), -1)
		endDay := day
		if w.end <= w.start {
			endDay = day.AddDate(0, 0, 1)
		}
		end := shift(at(endDay, w.end), +1)
		if !t.Before(start) && t.Before(end) {
			return end, true
		}
	}
	return time.Time{}, false
}

// at is the moment of a wall-clock time on a day; a time skipped by a
// daylight-saving change is moved forward, as time.Date does.
func at(day time.Time, minutes int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), minutes/60, minutes%60, 0, 0, day.Location())
}

// shift moves a moment to the earliest (dir -1) or latest (dir +1) instant that
// shows the same wall-clock time: when clocks go back, 02:30 happens twice, and
// a window is generous, starting at the first and ending at the last.
func shift(t time.Time, dir int) time.Time {
	for _, d := range []time.Duration{time.Hour, 30 * time.Minute} {
		c := t.Add(time.Duration(dir) * d)
		if c.Hour() == t.Hour() && c.Minute() == t.Minute() && c.Day() == t.Day() {
			return c
		}
	}
	return t
}
