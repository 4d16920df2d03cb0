// Package proget reads a ProGet instance's health endpoints (/health and
// /api/connector-health) across ProGet generations and turns what they answer,
// however malformed, into a monitor.Observation.
package proget
