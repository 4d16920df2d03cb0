package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// 3000 failing connectors with long names make a log line well under
// CloudWatch Logs' 256 KB per event, which still counts them all.
func TestInstanceLineIsBounded(t *testing.T) {
	o := monitor.Observation{Target: monitor.Target{Name: "prod-eu"}, HealthRead: true,
		Instance: monitor.Reading{Component: monitor.ComponentInstance, Status: monitor.StatusOK}}
	for i := range 3000 {
		o.ConnectorList = append(o.ConnectorList, monitor.Reading{
			Component: fmt.Sprintf("%s%s-%04d", monitor.ConnectorPrefix, strings.Repeat("n", 200), i), Status: monitor.StatusError})
	}
	var buf bytes.Buffer
	(&Runner{}).logInstance(slog.New(slog.NewJSONHandler(&buf, nil)), &result{target: o.Target, obs: o})
	var line struct {
		Problems            string `json:"problems"`
		ConnectorsUnhealthy int    `json:"connectorsUnhealthy"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 64<<10 || line.ConnectorsUnhealthy != 3000 || !strings.HasSuffix(line.Problems, ",and 2950 more") {
		t.Errorf("%d bytes, %d unhealthy, problems end %q", buf.Len(), line.ConnectorsUnhealthy, line.Problems[max(0, len(line.Problems)-30):])
	}
}
