package targets_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/targets"
)

func put(t *testing.T, c *ssm.Client, name, value string, secure bool) {
	t.Helper()
	typ := types.ParameterTypeString
	if secure {
		typ = types.ParameterTypeSecureString
	}
	if _, err := c.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

func TestMain(m *testing.M) { os.Exit(localaws.Main(m)) }

func TestLoadFromSSM(t *testing.T) { localaws.Each(t, testLoadFromSSM) }

func testLoadFromSSM(t *testing.T, b localaws.Backend) {
	stack, cfg := localaws.ForTestOn(t, b)
	c := ssm.NewFromConfig(cfg)
	root := "/" + localaws.Name(t, "targets") + "/"
	// 23 instances: more than two pages of ten.
	for i := range 23 {
		put(t, c, fmt.Sprintf("%sfleet-%02d/url", root, i), fmt.Sprintf("https://proget-%02d.example/", i), false)
	}
	put(t, c, root+"prod-eu/url", "https://proget.example/proget/", false)
	put(t, c, root+"prod-eu/api-key", "the-key", true)
	put(t, c, root+"team-a/build/url", "http://build.example:8624", false)
	put(t, c, root+"no-url/api-key", "k", true)
	put(t, c, root+"ftp/url", "ftp://proget.example", false)
	put(t, c, root+"creds/url", "https://admin:hunter2@proget.example", false)
	put(t, c, root+"nohost/url", "https://", false)
	put(t, c, root+"badca/url", "https://badca.example", false)
	put(t, c, root+"badca/ca-bundle", "not a certificate", false)
	put(t, c, "/elsewhere/other/url", "https://other.example", false)

	stack.ResetCalls()
	l, err := targets.NewSSM(c).Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	valid, invalid := l.Targets, l.Invalid
	if l.Parameters != 32 {
		t.Errorf("%d parameters counted, want 32", l.Parameters)
	}
	if len(valid) != 25 {
		t.Fatalf("got %d valid targets, want 25", len(valid))
	}
	if pages := stack.Calls()["ssm.GetParametersByPath"]; pages != 4 {
		t.Errorf("GetParametersByPath called %d times for 32 parameters, want 4 pages", pages)
	}
	byName := map[string]int{}
	for i, v := range valid {
		byName[v.Name] = i
	}
	prod := valid[byName["prod-eu"]]
	if prod.URL != "https://proget.example/proget" || prod.APIKey.Reveal() != "the-key" || prod.Key != root+"prod-eu" {
		t.Errorf("prod-eu = %+v (key %q)", prod, prod.APIKey.Reveal())
	}
	if b := valid[byName["team-a/build"]]; b.URL != "http://build.example:8624" || !b.APIKey.IsZero() {
		t.Errorf("team-a/build = %+v", b)
	}
	var got []string
	for _, iv := range invalid {
		got = append(got, iv.Parameter+": "+iv.Reason)
		if strings.Contains(iv.Reason, "hunter2") {
			t.Errorf("a credential leaked into %q", iv.Reason)
		}
	}
	want := []string{
		root + "badca/ca-bundle: the parameter holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
		root + "creds/url: the URL must not contain credentials: put the API key in the api-key parameter",
		root + "ftp/url: the URL must start with https:// (or http://)",
		root + "no-url/url: the parameter is missing",
		root + "nohost/url: the URL has no host",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("invalid:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadFailsLoudly(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		stack, cfg := localaws.ForTestOn(t, b)
		stack.SetFault(func(op string) localaws.Injection { return localaws.Fail(400, "AccessDeniedException") })
		_, err := targets.NewSSM(ssm.NewFromConfig(cfg)).Load(context.Background(), "/x/")
		if err == nil || !strings.Contains(err.Error(), "read targets under /x/") {
			t.Fatalf("err = %v, want it to name the path", err)
		}
	})
}

// A one-off maintenance end far ahead is a typo that would silence an
// instance for years: it is refused, naming the parameter, and the instance
// is checked and alerted as usual.
func TestMaintenanceFarAheadIsRefused(t *testing.T) {
	localaws.Each(t, func(t *testing.T, b localaws.Backend) {
		_, cfg := localaws.ForTestOn(t, b)
		c := ssm.NewFromConfig(cfg)
		root := "/" + localaws.Name(t, "targets") + "/"
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		put(t, c, root+"typo/url", "https://typo.example", false)
		put(t, c, root+"typo/maintenance", "2062-11-24T22:00:00Z", false)
		put(t, c, root+"fine/url", "https://fine.example", false)
		put(t, c, root+"fine/maintenance", "2026-12-01T22:00:00Z", false)
		s := targets.NewSSM(c)
		s.Now = func() time.Time { return now }
		l, err := s.Load(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Targets) != 2 || len(l.Invalid) != 1 || !l.Invalid[0].Checked ||
			l.Invalid[0].Parameter != root+"typo/maintenance" || !strings.Contains(l.Invalid[0].Reason, "90 days") {
			t.Fatalf("listing %+v", l)
		}
		for _, tg := range l.Targets {
			if active := tg.Maintenance.Active(now); active != (tg.Name == "fine") {
				t.Errorf("%s: in maintenance %v", tg.Name, active)
			}
		}
	})
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{"/a": "/a/", "/a/b/": "/a/b/", "a/": "error", "/a//b": "error"} {
		got, err := targets.NormalizePath(in)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
