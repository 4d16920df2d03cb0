package localaws

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ForTest starts a kumo stack that is closed when the test ends, and its SDK
// configuration. It is ForTestOn(t, Kumo).
func ForTest(t testing.TB) (*Stack, aws.Config) {
	t.Helper()
	return ForTestOn(t, Kumo)
}

// ForTestOn starts a stack on backend b that is closed when the test ends, and
// its SDK configuration. It fails the test if the backend cannot start (moto
// not installed, for one): a missing backend is never a reason to skip.
func ForTestOn(t testing.TB, b Backend) (*Stack, aws.Config) {
	t.Helper()
	s, err := StartOn(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg, err := s.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

// Each runs f as one subtest per backend, named after it ("kumo", "moto").
func Each(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) { f(t, b) })
	}
}

// Main runs a package's tests, then stops the moto_server they shared, and
// returns the exit code. A package whose tests use Moto has
//
//	func TestMain(m *testing.M) { os.Exit(localaws.Main(m)) }
//
// (without it, moto_server is killed only when the test process dies, on Linux).
func Main(m *testing.M) int {
	defer Shutdown()
	return m.Run()
}

var names atomic.Int64

// Name returns a resource name no other test uses: kumo and moto keep their
// resources per process, not per stack, so tests in one package must not
// share names.
func Name(t testing.TB, base string) string {
	return fmt.Sprintf("%s-%d", base, names.Add(1))
}
