// Package alert renders a monitor.Alert for people (an e-mail subject and body)
// and for machines (a JSON document with a stable schema), and publishes it to
// an SNS topic with one text per subscriber protocol.
package alert
