// Package metrics turns a run into CloudWatch datums (pure: what to publish at
// which level) and publishes them, within CloudWatch's rules for a
// PutMetricData call.
package metrics
