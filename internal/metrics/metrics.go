package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// MaxDatumsPerCall is the most datums one PutMetricData call takes.
const MaxDatumsPerCall = 1000

// Dimension names.
const (
	DimInstance  = "Instance"
	DimConnector = "Connector"
)

// Datums builds the datums of one run. It is pure: no clock (CloudWatch stamps
// datums as it receives them), no I/O. perConnector adds one ConnectorHealthy
// series per connector, the largest part of the metrics bill for big fleets.
func Datums(obs []monitor.Observation, perConnector bool) []types.MetricDatum {
	out := make([]types.MetricDatum, 0, len(obs)*10+2)
	unhealthy := 0
	for _, o := range obs {
		inst := []types.Dimension{{Name: aws.String(DimInstance), Value: aws.String(o.Target.Name)}}
		add := func(name string, v float64, unit types.StandardUnit) {
			out = append(out, types.MetricDatum{MetricName: aws.String(name), Dimensions: inst, Value: aws.Float64(v), Unit: unit})
		}
		healthy := o.Healthy()
		if !healthy {
			unhealthy++
		}
		add("Up", bit(o.Up), types.StandardUnitNone)
		add("Healthy", bit(healthy), types.StandardUnitNone)
		if o.HTTPStatus != 0 {
			add("ResponseTime", float64(o.ResponseTime.Microseconds())/1000, types.StandardUnitMilliseconds)
		}
		if !o.Up {
			continue
		}
		replication, replicationOK := 0, true
		for _, r := range o.Health {
			switch r.Component {
			case monitor.ComponentDatabase:
				add("DatabaseHealthy", bit(r.Status.Healthy()), types.StandardUnitNone)
			case monitor.ComponentLicense:
				add("LicenseHealthy", bit(r.Status.Healthy()), types.StandardUnitNone)
			case monitor.ComponentService:
				add("ServiceHealthy", bit(r.Status.Healthy()), types.StandardUnitNone)
			case monitor.ComponentReplicationServer, monitor.ComponentReplicationClient:
				replication++
				replicationOK = replicationOK && r.Status.Healthy()
			}
		}
		if replication > 0 {
			add("ReplicationHealthy", bit(replicationOK), types.StandardUnitNone)
		}
		if o.Connectors.Status != monitor.StatusOK {
			continue // no list was read: no connector counts
		}
		good := 0
		for _, c := range o.ConnectorList {
			if c.Status.Healthy() {
				good++
			}
			if perConnector {
				out = append(out, types.MetricDatum{
					MetricName: aws.String("ConnectorHealthy"),
					Dimensions: []types.Dimension{inst[0], {Name: aws.String(DimConnector), Value: aws.String(strings.TrimPrefix(c.Component, monitor.ConnectorPrefix))}},
					Value:      aws.Float64(bit(c.Status.Healthy())), Unit: types.StandardUnitNone,
				})
			}
		}
		add("ConnectorsHealthy", float64(good), types.StandardUnitCount)
		add("ConnectorsUnhealthy", float64(len(o.ConnectorList)-good), types.StandardUnitCount)
	}
	out = append(out,
		types.MetricDatum{MetricName: aws.String("InstancesChecked"), Value: aws.Float64(float64(len(obs))), Unit: types.StandardUnitCount},
		types.MetricDatum{MetricName: aws.String("InstancesUnhealthy"), Value: aws.Float64(float64(unhealthy)), Unit: types.StandardUnitCount},
	)
	return out
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// putMetricDataAPI is the part of the CloudWatch API this adapter uses.
type putMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// CloudWatch publishes a run's metrics.
type CloudWatch struct {
	client       putMetricDataAPI
	namespace    string
	perConnector bool
}

// NewCloudWatch returns a publisher into the namespace.
func NewCloudWatch(client putMetricDataAPI, namespace string, perConnector bool) *CloudWatch {
	return &CloudWatch{client: client, namespace: namespace, perConnector: perConnector}
}

// Push publishes the run's datums, up to 1000 a call, all calls at once (a
// thousand instances make about a dozen).
// It returns how many datums were accepted.
func (c *CloudWatch) Push(ctx context.Context, obs []monitor.Observation) (int, error) {
	datums := Datums(obs, c.perConnector)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sent := 0
	for i := 0; i < len(datums); i += MaxDatumsPerCall {
		batch := datums[i:min(i+MaxDatumsPerCall, len(datums))]
		wg.Go(func() {
			_, err := c.client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(c.namespace), MetricData: batch})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			sent += len(batch)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return sent, fmt.Errorf("put %d of %d datums into namespace %s: %w", len(datums)-sent, len(datums), c.namespace, err)
	}
	return sent, nil
}
