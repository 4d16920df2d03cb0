package localaws

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ForTest starts a stack that is closed when the test ends, and its SDK configuration.
func ForTest(t testing.TB) (*Stack, aws.Config) {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	cfg, err := s.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

var names atomic.Int64

// Name returns a resource name no other test uses: kumo keeps its resources per
// process, not per server, so tests in one package must not share names.
func Name(t testing.TB, base string) string {
	return fmt.Sprintf("%s-%d", base, names.Add(1))
}
