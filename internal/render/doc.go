// Package render turns an alert, or a fleet of alerts sent as one, into the
// messages people and programs receive: an e-mail subject and text, and a JSON
// document with a stable schema, each within SNS's 256 KiB per publish. It is
// pure: no clock, no I/O.
package render
