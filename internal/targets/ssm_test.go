package targets_test

import (
	"context"
	"fmt"
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

func TestLoadFromSSM(t *testing.T) {
	stack, cfg := localaws.ForTest(t)
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
	valid, invalid, err := targets.NewSSM(c).Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
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
	stack, cfg := localaws.ForTest(t)
	stack.SetFault(func(op string) localaws.Injection { return localaws.Fail(400, "AccessDeniedException") })
	_, _, err := targets.NewSSM(ssm.NewFromConfig(cfg)).Load(context.Background(), "/x/")
	if err == nil || !strings.Contains(err.Error(), "read targets under /x/") {
		t.Fatalf("err = %v, want it to name the path", err)
	}
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

func TestCacheIsBounded(t *testing.T) {
	stack, cfg := localaws.ForTest(t)
	c := ssm.NewFromConfig(cfg)
	root := "/" + localaws.Name(t, "cached") + "/"
	put(t, c, root+"a/url", "https://a.example", false)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := targets.NewSSM(c)
	s.CacheTTL, s.Now = 10*time.Minute, func() time.Time { return now }
	load := func() int {
		t.Helper()
		v, _, err := s.Load(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		return len(v)
	}
	stack.ResetCalls()
	load()
	put(t, c, root+"b/url", "https://b.example", false)
	now = now.Add(9 * time.Minute)
	if n := load(); n != 1 || stack.Calls()["ssm.GetParametersByPath"] != 1 {
		t.Errorf("a fresh cache was not used: %d targets, %v", n, stack.Calls())
	}
	now = now.Add(2 * time.Minute)
	if n := load(); n != 2 {
		t.Errorf("a stale cache was used: %d targets", n)
	}
}
