package run

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

const maxProblemsLogged = 50

// logInstance writes the one line per instance per run. Its field names are
// stable (the README lists them, and the dashboard's Logs Insights queries
// read them), so that per-instance detail costs log bytes, not metrics.
func (r *Runner) logInstance(log *slog.Logger, res *result) {
	o := res.obs
	var problems []string
	unhealthyConnectors := 0
	for _, rd := range o.Readings() {
		if !rd.Status.Healthy() {
			problems = append(problems, rd.Component+"="+string(rd.Status))
		}
	}
	for _, c := range o.ConnectorList {
		if !c.Status.Healthy() {
			unhealthyConnectors++
		}
	}
	attrs := []any{
		"instance", o.Target.Name,
		"status", string(o.Instance.Status),
		"healthy", o.Healthy(),
		"alerting", alerting(*res),
		"httpStatus", o.HTTPStatus,
		"responseMs", o.ResponseTime.Milliseconds(),
		"connectorHealth", string(o.Connectors.Status),
		"connectors", len(o.ConnectorList),
		"connectorsUnhealthy", unhealthyConnectors,
	}
	if o.Release != "" {
		attrs = append(attrs, "release", o.Release)
	}
	if len(o.Probes) > 0 {
		failing := 0
		for _, p := range o.Probes {
			if !p.Status.Healthy() {
				failing++
			}
		}
		attrs = append(attrs, "probes", len(o.Probes), "probesFailing", failing)
	}
	if !o.CertificateExpires.IsZero() {
		attrs = append(attrs, "certificateExpires", o.CertificateExpires.UTC().Format(time.DateOnly),
			"certificateDaysLeft", int(o.CertificateExpires.Sub(o.Time).Hours()/24))
	}
	if len(problems) > maxProblemsLogged {
		// A log event is at most 256 KB; connectorsUnhealthy counts them all.
		problems = append(problems[:maxProblemsLogged], fmt.Sprintf("and %d more", len(problems)-maxProblemsLogged))
	}
	if len(problems) > 0 {
		attrs = append(attrs, "problems", strings.Join(problems, ","))
	}
	if !o.Up() {
		attrs = append(attrs, "reason", o.Instance.Detail)
	}
	if o.Connectors.Status == monitor.StatusRejected || o.Connectors.Status == monitor.StatusRedirected {
		attrs = append(attrs, "connectorsDetail", o.Connectors.Detail)
	}
	if !res.until.IsZero() {
		attrs = append(attrs, "maintenanceUntil", res.until.UTC().Format(time.RFC3339))
	}
	if res.alert != nil && res.delivery.Claimed {
		attrs = append(attrs, "alertId", res.alert.ID, "severity", string(res.alert.Severity))
	}
	if err := res.delivery.Err; err != nil {
		log.Error("instance checked", append(attrs, "error", err.Error())...)
		return
	}
	log.Info("instance checked", attrs...)
}
