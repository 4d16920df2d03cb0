package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// CloudWatch's limits on one PutMetricData call.
const (
	MaxDatumsPerCall = 1000
	// maxCallBytes keeps a call's payload under CloudWatch's 1 MB with room
	// for the request's own envelope.
	maxCallBytes = 900 * 1024
)

// putMetricDataAPI is the part of the CloudWatch API this adapter uses.
type putMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// CloudWatch publishes a run's metrics.
type CloudWatch struct {
	client    putMetricDataAPI
	namespace string
	level     Level
}

// NewCloudWatch returns a publisher into the namespace at a level.
func NewCloudWatch(client putMetricDataAPI, namespace string, level Level) *CloudWatch {
	return &CloudWatch{client: client, namespace: namespace, level: level}
}

// putConcurrency bounds the PutMetricData calls in flight.
const putConcurrency = 8

// Push publishes the run's datums, in as few calls as CloudWatch's limits
// allow, a few at a time. It returns how many datums were accepted.
func (c *CloudWatch) Push(ctx context.Context, r Run) (int, error) {
	datums := Datums(r, c.level)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sent := 0
	// A few calls at a time: at the full level a thousand instances make
	// hundreds of calls, which at once would meet CloudWatch's request rate
	// and take sockets from the checks.
	sem := make(chan struct{}, putConcurrency)
	for _, batch := range Batches(datums) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
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
	if len(errs) > 0 {
		more := ""
		if len(errs) > 3 {
			more = fmt.Sprintf(" (and %d more failed calls)", len(errs)-3)
		}
		return sent, fmt.Errorf("put %d of %d datums into namespace %s: %w%s", len(datums)-sent, len(datums), c.namespace, errors.Join(errs[:min(len(errs), 3)]...), more)
	}
	return sent, nil
}

// Batches splits datums into calls of at most 1000 datums and about 900 KB,
// leaving out values CloudWatch refuses (NaN, infinities).
func Batches(datums []types.MetricDatum) [][]types.MetricDatum {
	var out [][]types.MetricDatum
	var cur []types.MetricDatum
	size := 0
	for _, d := range datums {
		if v := aws.ToFloat64(d.Value); math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		n := datumSize(d)
		if len(cur) == MaxDatumsPerCall || size+n > maxCallBytes {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, d)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// datumSize over-estimates a datum's share of a request's payload.
func datumSize(d types.MetricDatum) int {
	n := 64 + len(aws.ToString(d.MetricName)) + len(d.Unit)
	for _, x := range d.Dimensions {
		n += 16 + len(aws.ToString(x.Name)) + len(aws.ToString(x.Value))
	}
	return n
}
