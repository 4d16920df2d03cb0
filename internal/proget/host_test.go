package proget_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// TestInstancesBehindOneHostDoNotQueue: ten instances behind one host name
// and port (https://corp.example/proget-0 ... /proget-9), each slow to answer,
// checked at once: none waits for another's connection, so none times out
// and each response time is its own.
func TestInstancesBehindOneHostDoNotQueue(t *testing.T) {
	host := progetsim.NewHost()
	var fleet []*progetsim.Instance
	for i := range 10 {
		in := progetsim.New(progetsim.V2023)
		in.SetAPIKey(key)
		in.SetConnectors(progetsim.Connector{ID: 1, Name: "nuget.org", State: "healthy"})
		in.SetLatency(300 * time.Millisecond)
		host.Mount(fmt.Sprintf("/proget-%d", i), in)
		fleet = append(fleet, in)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Stop()
	client := proget.New(time.Second)
	obs := make([]monitor.Observation, len(fleet))
	var wg sync.WaitGroup
	for i, in := range fleet {
		wg.Go(func() { obs[i] = client.Check(context.Background(), target(in.URL(), key)) })
	}
	wg.Wait()
	for i, o := range obs {
		if !o.Up() || o.Connectors.Status != monitor.StatusOK || len(o.ConnectorList) != 1 {
			t.Errorf("proget-%d: %s; connectors %+v", i, summarize(o), o.Connectors)
		}
		if o.ResponseTime < 300*time.Millisecond || o.ResponseTime > 600*time.Millisecond {
			t.Errorf("proget-%d: response time %v, want about 300ms", i, o.ResponseTime)
		}
	}
	for i, in := range fleet {
		if n := len(in.Requests()); n != 2 {
			t.Errorf("proget-%d received %d requests, want /health and connector-health", i, n)
		}
	}
}
