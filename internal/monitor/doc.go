// Package monitor holds the domain of the ProGet monitor: targets, observations,
// per-instance state, the pure decision that turns an observation into state changes
// and alerts, and the run that orchestrates one scheduled check of a fleet.
package monitor
