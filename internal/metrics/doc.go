// Package metrics turns a run's observations into CloudWatch datums and
// publishes them with PutMetricData, in as few calls as the API allows.
package metrics
