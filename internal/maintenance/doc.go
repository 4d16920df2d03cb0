// Package maintenance parses an instance's maintenance setting (a one-off end
// time, or recurring weekly windows in an IANA time zone) and tells whether a
// moment falls inside it.
package maintenance
