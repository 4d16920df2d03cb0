package targets

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/proget-monitor/proget-monitor/internal/maintenance"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// Parameter names inside an instance's folder.
const (
	ParamURL         = "url"
	ParamAPIKey      = "api-key"
	ParamCABundle    = "ca-bundle"
	ParamMaintenance = "maintenance"
	ParamProbes      = "probes"
)

// getParametersByPathAPI is the part of the SSM API this adapter uses.
type getParametersByPathAPI interface {
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, opts ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// SSM reads targets from Parameter Store.
type SSM struct {
	client getParametersByPathAPI
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewSSM returns a reader over the client.
func NewSSM(client getParametersByPathAPI) *SSM { return &SSM{client: client} }

func (s *SSM) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NormalizePath checks a targets path and gives it its trailing slash.
func NormalizePath(p string) (string, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("targets path %q must start with /", p)
	}
	if strings.Contains(p, "//") || len(p) > 1000 {
		return "", fmt.Errorf("targets path %q is not a valid SSM path", p)
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, nil
}

// maxMaintenanceAhead bounds a one-off maintenance: an end further ahead is
// taken for a typo (2062 for 2026) that would silence an instance for years.
const maxMaintenanceAhead = 90 * 24 * time.Hour

// sampleSize is how many parameter names a listing keeps for messages.
const sampleSize = 5

// Load reads every instance folder under path. Instances that cannot be checked
// come back as invalid, with the parameter to fix; an error means the path itself
// could not be read, and then nothing should be concluded about any instance.
func (s *SSM) Load(ctx context.Context, path string) (monitor.Listing, error) {
	var l monitor.Listing
	type folder struct{ url, key, ca, maintenance, probes *string }
	folders := map[string]*folder{}
	pages := ssm.NewGetParametersByPathPaginator(s.client, &ssm.GetParametersByPathInput{
		Path:           aws.String(path),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(true),
		MaxResults:     aws.Int32(10), // the most the API allows
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return monitor.Listing{}, fmt.Errorf("read targets under %s: %w", path, err)
		}
		for _, p := range page.Parameters {
			l.Parameters++
			if len(l.Sample) < sampleSize {
				l.Sample = append(l.Sample, aws.ToString(p.Name))
			}
			rel := strings.TrimPrefix(aws.ToString(p.Name), path)
			name, leaf, ok := cutLast(rel)
			if !ok {
				continue // a parameter directly under the path is not an instance folder
			}
			f := folders[name]
			if f == nil {
				f = &folder{}
				folders[name] = f
			}
			switch leaf {
			case ParamURL:
				f.url = p.Value
			case ParamAPIKey:
				f.key = p.Value
			case ParamCABundle:
				f.ca = p.Value
			case ParamMaintenance:
				f.maintenance = p.Value
			case ParamProbes:
				f.probes = p.Value
			}
		}
	}
	var valid []monitor.Target
	var invalid []monitor.InvalidTarget
	now := s.now()
	for name, f := range folders {
		key := path + name
		if f.url == nil {
			invalid = append(invalid, monitor.InvalidTarget{Name: name, Parameter: key + "/" + ParamURL, Reason: "the parameter is missing"})
			continue
		}
		u, err := ValidateURL(*f.url)
		if err != nil {
			invalid = append(invalid, monitor.InvalidTarget{Name: name, Parameter: key + "/" + ParamURL, Reason: err.Error()})
			continue
		}
		t := monitor.Target{Name: name, Key: key, URL: u}
		if f.key != nil {
			t.APIKey = monitor.NewSecret(strings.TrimSpace(*f.key))
		}
		if f.ca != nil {
			if !x509.NewCertPool().AppendCertsFromPEM([]byte(*f.ca)) {
				invalid = append(invalid, monitor.InvalidTarget{Name: name, Parameter: key + "/" + ParamCABundle,
					Reason: "the parameter holds no PEM certificate (-----BEGIN CERTIFICATE-----)"})
				continue
			}
			t.CABundle = *f.ca
		}
		if f.maintenance != nil {
			// A wrong maintenance setting must not stop the checks: it is reported and ignored.
			sch, err := maintenance.Parse(*f.maintenance)
			if err == nil && sch.End().Sub(now) > maxMaintenanceAhead {
				err = fmt.Errorf("the end %s is more than 90 days ahead (a typo in the year?)", sch.End().UTC().Format(time.RFC3339))
			}
			if err != nil {
				invalid = append(invalid, monitor.InvalidTarget{Name: name, Parameter: key + "/" + ParamMaintenance,
					Reason: err.Error() + " (ignored: the instance is checked and alerted as usual)", Checked: true})
			} else {
				t.Maintenance = sch
			}
		}
		if f.probes != nil {
			var problems []string
			t.Probes, problems = ParseProbes(*f.probes)
			for _, pr := range problems {
				invalid = append(invalid, monitor.InvalidTarget{Name: name, Parameter: key + "/" + ParamProbes, Reason: pr, Checked: true})
			}
		}
		valid = append(valid, t)
	}
	slices.SortFunc(valid, func(a, b monitor.Target) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(invalid, func(a, b monitor.InvalidTarget) int { return strings.Compare(a.Name, b.Name) })
	l.Targets, l.Invalid = valid, invalid
	return l, nil
}

// cutLast splits "team/prod-eu/url" into "team/prod-eu" and "url".
func cutLast(rel string) (string, string, bool) {
	i := strings.LastIndex(rel, "/")
	if i <= 0 || i == len(rel)-1 {
		return "", "", false
	}
	return rel[:i], rel[i+1:], true
}

// ValidateURL checks an instance's base URL and returns it without a trailing
// slash. Its errors never repeat the value, which might hold credentials.
func ValidateURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return "", fmt.Errorf("the value is not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("the URL must start with https:// (or http://)")
	case u.User != nil:
		return "", fmt.Errorf("the URL must not contain credentials: put the API key in the %s parameter", ParamAPIKey)
	case u.Hostname() == "":
		return "", fmt.Errorf("the URL has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("the URL must not have a query or fragment: give ProGet's base URL")
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}
