package metrics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// Level is how much a run publishes; every series is a billed custom metric.
type Level string

const (
	// LevelFleet publishes the fleet metrics of each schedule only.
	LevelFleet Level = "fleet"
	// LevelInstance adds two series per instance: Alerting (confirmed, what
	// pages) and ResponseTime. What each run saw of each instance is in its
	// log line, which the dashboard reads, for log bytes rather than metrics.
	LevelInstance Level = "instance"
	// LevelFull adds Healthy, Up, a series per component, one per connector
	// and one per probe, and the certificate's days left.
	LevelFull Level = "full"
)

// ParseLevel reads a METRICS setting.
func ParseLevel(s string) (Level, error) {
	switch l := Level(strings.ToLower(strings.TrimSpace(s))); l {
	case LevelFleet, LevelInstance, LevelFull:
		return l, nil
	}
	return "", fmt.Errorf("%q is not one of fleet, instance, full", s)
}

// Dimension names.
const (
	DimInstance    = "Instance"
	DimConnector   = "Connector"
	DimTargetsPath = "TargetsPath"
	DimProbe       = "Probe"
)

// Metric names. Fleet metrics carry the TargetsPath dimension, so that the
// schedules of a sharded fleet are told apart; per-instance ones the Instance
// dimension.
const (
	InstancesChecked       = "InstancesChecked"       // instances checked by the run
	InstancesUnhealthy     = "InstancesUnhealthy"     // of those, not healthy as the run saw them
	InstancesAlerting      = "InstancesAlerting"      // confirmed critical and not in maintenance: what pages
	InstancesInMaintenance = "InstancesInMaintenance" // checked inside a maintenance window
	InvalidTargets         = "InvalidTargets"         // instance folders skipped for a wrong parameter
	SkippedInstances       = "SkippedInstances"       // instances not checked before the deadline

	Alerting            = "Alerting" // 1 when the instance is confirmed critical and not in maintenance
	Healthy             = "Healthy"
	ResponseTime        = "ResponseTime"
	Up                  = "Up"
	DatabaseHealthy     = "DatabaseHealthy"
	LicenseHealthy      = "LicenseHealthy"
	ServiceHealthy      = "ServiceHealthy"
	ReplicationHealthy  = "ReplicationHealthy"
	ConnectorsHealthy   = "ConnectorsHealthy"
	ConnectorsUnhealthy = "ConnectorsUnhealthy"
	ConnectorHealthy    = "ConnectorHealthy"
	ProbeHealthy        = "ProbeHealthy"
	CertificateDaysLeft = "CertificateDaysLeft"
)

// Instance is one checked instance as the metrics see it.
type Instance struct {
	Observation monitor.Observation
	// Alerting is true when the instance's confirmed status (after the
	// thresholds) is critical and it is not in maintenance.
	Alerting      bool
	InMaintenance bool
}

// Run is what one run publishes.
type Run struct {
	TargetsPath string
	Checked     []Instance
	Invalid     int // instance folders skipped for a wrong parameter
	Skipped     int // instances not checked before the deadline
	// StateUnknown is a run that could not read the state: what is
	// confirmed is unknown, so Alerting and InstancesAlerting are not
	// published (an alarm must not read 0 and return to OK).
	StateUnknown bool
}

// Datums builds the datums of one run at a level. It is pure: no clock
// (CloudWatch stamps datums as it receives them), no I/O.
func Datums(r Run, level Level) []types.MetricDatum {
	var out []types.MetricDatum
	unhealthy, alerting, maint := 0, 0, 0
	for _, in := range r.Checked {
		if !in.Observation.Healthy() {
			unhealthy++
		}
		if in.Alerting {
			alerting++
		}
		if in.InMaintenance {
			maint++
		}
		if level != LevelFleet {
			out = append(out, instanceDatums(in, level, r.StateUnknown)...)
		}
	}
	path := []types.Dimension{dim(DimTargetsPath, r.TargetsPath)}
	for _, f := range []struct {
		name string
		v    int
	}{
		{InstancesChecked, len(r.Checked)}, {InstancesUnhealthy, unhealthy}, {InstancesAlerting, alerting},
		{InstancesInMaintenance, maint}, {InvalidTargets, r.Invalid}, {SkippedInstances, r.Skipped},
	} {
		if f.name == InstancesAlerting && r.StateUnknown {
			continue
		}
		out = append(out, datum(f.name, path, float64(f.v), types.StandardUnitCount))
	}
	return out
}

func instanceDatums(in Instance, level Level, stateUnknown bool) []types.MetricDatum {
	o := in.Observation
	inst := []types.Dimension{dim(DimInstance, o.Target.Name)}
	var out []types.MetricDatum
	if !stateUnknown {
		out = append(out, datum(Alerting, inst, bit(in.Alerting), types.StandardUnitNone))
	}
	if o.HTTPStatus != 0 {
		out = append(out, datum(ResponseTime, inst, float64(o.ResponseTime.Microseconds())/1000, types.StandardUnitMilliseconds))
	}
	if level != LevelFull {
		return out
	}
	out = append(out,
		datum(Healthy, inst, bit(o.Healthy()), types.StandardUnitNone),
		datum(Up, inst, bit(o.Up()), types.StandardUnitNone))
	if !o.Up() {
		return out
	}
	if !o.CertificateExpires.IsZero() {
		days := o.CertificateExpires.Sub(o.Time).Hours() / 24
		out = append(out, datum(CertificateDaysLeft, inst, days, types.StandardUnitNone))
	}
	for _, p := range o.Probes {
		dims := []types.Dimension{inst[0], dim(DimProbe, strings.TrimPrefix(p.Component, monitor.ProbePrefix))}
		out = append(out, datum(ProbeHealthy, dims, bit(p.Status.Healthy()), types.StandardUnitNone))
	}
	replication, replicationOK := 0, true
	for _, r := range o.Health {
		switch r.Component {
		case monitor.ComponentDatabase:
			out = append(out, datum(DatabaseHealthy, inst, bit(r.Status.Healthy()), types.StandardUnitNone))
		case monitor.ComponentLicense:
			out = append(out, datum(LicenseHealthy, inst, bit(r.Status.Healthy()), types.StandardUnitNone))
		case monitor.ComponentService:
			out = append(out, datum(ServiceHealthy, inst, bit(r.Status.Healthy()), types.StandardUnitNone))
		case monitor.ComponentReplicationServer, monitor.ComponentReplicationClient:
			replication++
			replicationOK = replicationOK && r.Status.Healthy()
		}
	}
	if replication > 0 {
		out = append(out, datum(ReplicationHealthy, inst, bit(replicationOK), types.StandardUnitNone))
	}
	if o.Connectors.Status != monitor.StatusOK {
		return out // no list was read: no connector counts
	}
	good := 0
	for _, c := range o.ConnectorList {
		if c.Status.Healthy() {
			good++
		}
	}
	out = append(out,
		datum(ConnectorsHealthy, inst, float64(good), types.StandardUnitCount),
		datum(ConnectorsUnhealthy, inst, float64(len(o.ConnectorList)-good), types.StandardUnitCount))
	for _, c := range seriesConnectors(o.ConnectorList) {
		dims := []types.Dimension{inst[0], dim(DimConnector, strings.TrimPrefix(c.Component, monitor.ConnectorPrefix))}
		out = append(out, datum(ConnectorHealthy, dims, bit(c.Status.Healthy()), types.StandardUnitNone))
	}
	return out
}

// seriesConnectors picks the connectors that get a series of their own: at
// most monitor.MaxConnectors, those with problems first, then in ProGet's
// order, so that a huge instance does not buy thousands of metrics.
func seriesConnectors(list []monitor.Reading) []monitor.Reading {
	if len(list) <= monitor.MaxConnectors {
		return list
	}
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b monitor.Reading) int {
		return boolInt(a.Status.Healthy()) - boolInt(b.Status.Healthy())
	})
	return out[:monitor.MaxConnectors]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func bit(b bool) float64 { return float64(boolInt(b)) }

func dim(name, value string) types.Dimension {
	return types.Dimension{Name: aws.String(name), Value: aws.String(DimensionValue(value))}
}

func datum(name string, dims []types.Dimension, v float64, unit types.StandardUnit) types.MetricDatum {
	return types.MetricDatum{MetricName: aws.String(name), Dimensions: dims, Value: aws.Float64(v), Unit: unit}
}
