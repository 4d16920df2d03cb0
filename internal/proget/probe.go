package proget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// A probe asks a feed for a package as the feed's users do, and passes when
// a usable answer comes within the client's timeout. Unlike /health, it
// follows redirects to other hosts, as a browser or a package manager would
// (feeds send tarballs to CDNs), but the API key only ever goes to the
// instance's own host, and no redirect reaches an address the monitor never
// connects to.

const (
	// probesAtOnce bounds the probes of one instance that run at once: a
	// monitor that asks for twenty packages at once is a load of its own.
	probesAtOnce = 4
	// probeHead is what is kept of an answer to describe it; the rest is
	// judged as it streams, so a probe holds little memory whatever its size.
	probeHead = 64 << 10
	// errorHead is what is read of a failed answer to describe it.
	errorHead = 8 << 10
)

// probes runs an instance's probes, at most probesAtOnce at a time, and
// returns their readings in the order they were configured.
func (f *fetcher) probes(ctx context.Context, ps []monitor.Probe) []monitor.Reading {
	out := make([]monitor.Reading, len(ps))
	turns := make(chan struct{}, probesAtOnce)
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			var why string
			select {
			case turns <- struct{}{}:
				why = f.probe(ctx, p)
				<-turns
			case <-ctx.Done():
				why = "not run: the check was cut short"
			}
			out[i] = monitor.Reading{Component: monitor.ProbePrefix + p.Label, Status: monitor.StatusOK}
			if why != "" {
				out[i].Status, out[i].Detail = monitor.StatusError, clean(f.red.string(why), maxDetail)
			}
		})
	}
	wg.Wait()
	return out
}

// probe runs one probe and returns why it failed, or "".
func (f *fetcher) probe(parent context.Context, p monitor.Probe) string {
	ctx, cancel := context.WithTimeout(parent, f.client.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, policyKey{}, f.policy)
	u, err := url.Parse(f.target.URL + p.Path)
	if err != nil || u.Host != f.base.Host {
		return "the path does not make a URL under the instance's url: check the probe's line"
	}
	// The key goes along only while the redirects stay where connector-health
	// would follow them: the instance's own host, never back to plain HTTP.
	ownHost := true
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "the request cannot be made: " + clean(err.Error(), 120)
		}
		req.Header.Set("Accept", "*/*")
		req.Header.Set("User-Agent", "proget-monitor")
		keyed := p.Key && !f.target.APIKey.IsZero() && ownHost
		if keyed {
			req.Header.Set(apiKeyHeader, f.target.APIKey.Reveal())
		}
		resp, err := f.rt.RoundTrip(req)
		if err != nil {
			return f.probeError(parent, err, u, hop)
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			return f.judgeProbe(parent, resp, p, u, hop > 0, keyed)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		// Scrubbed before it is followed: a Location that carries the key
		// must not carry it to another host.
		to, err := u.Parse(f.red.string(loc))
		if err != nil || to.Host == "" {
			return fmt.Sprintf("HTTP %d from %s but its Location header is not a URL", resp.StatusCode, f.where(u))
		}
		to.User, to.Fragment, to.RawFragment = nil, "", ""
		if hop == maxRedirects {
			return errTooManyRedirects{to}.Error()
		}
		if s := strings.ToLower(to.Scheme); s != "http" && s != "https" {
			return fmt.Sprintf("redirected to %s, not an HTTP address", showURL(to))
		}
		if what := f.client.refusal(to, f.policy); what != "" {
			return fmt.Sprintf("redirected to %s, %s, which the monitor never connects to", showURL(to), what)
		}
		if why, _ := f.unfollowable(u, to); why != "" {
			ownHost = false // followed as a browser would, without the key
		}
		u = to
	}
}

// where names a URL in a reason: its path below the instance's url when it
// is the instance's (as the probe's line spells it), else the whole URL;
// never a query string.
func (f *fetcher) where(u *url.URL) string {
	base := strings.TrimSuffix(f.base.EscapedPath(), "/")
	p := u.EscapedPath()
	if strings.EqualFold(u.Scheme, f.base.Scheme) && strings.EqualFold(u.Host, f.base.Host) && strings.HasPrefix(p, base+"/") {
		return clean(strings.TrimPrefix(p, base), 160)
	}
	return showURL(u)
}

func timedOut(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}

// probeError is the reason of a request that got no answer.
func (f *fetcher) probeError(parent context.Context, err error, u *url.URL, hop int) string {
	var refused errRefusedAddress
	prefix := ""
	if hop > 0 {
		prefix = "redirected to " + showURL(u) + ": "
	}
	switch {
	case parent.Err() != nil:
		return "not finished: the check was cut short"
	case hop > 0 && errors.As(err, &refused):
		return fmt.Sprintf("%sit resolves to %s (%s), which the monitor never connects to", prefix, refused.what, refused.addr)
	case timedOut(err):
		return fmt.Sprintf("%stimed out after %s", prefix, f.client.timeout)
	}
	return prefix + f.client.describeError(err, f.target, f.red)
}

// judgeProbe reads an answer that is not a redirect and returns why it
// fails the probe, or "".
func (f *fetcher) judgeProbe(parent context.Context, resp *http.Response, p monitor.Probe, u *url.URL, redirected, keyed bool) string {
	defer resp.Body.Close()
	code := resp.StatusCode
	if code < 200 || code > 299 {
		head, complete, _ := readHead(resp.Body, errorHead)
		return f.statusFailure(code, f.red.prefix(head, complete), p, u, keyed)
	}
	v := judgeBody(resp.Header.Get("Content-Type"), resp.Body, f.client.maxProbeBytes, f.red)
	at := ""
	if redirected {
		at = " (at " + f.where(u) + ")"
	}
	but := fmt.Sprintf("HTTP %d but ", code)
	switch {
	case v.err != nil && parent.Err() != nil:
		return "not finished: the check was cut short"
	case v.err != nil && timedOut(v.err):
		return fmt.Sprintf("%sthe body timed out after %s%s", but, f.client.timeout, at)
	case v.err != nil:
		return but + "reading the body failed" + at + ": " + f.client.describeError(v.err, f.target, f.red)
	case v.empty:
		return but + "the body is empty" + at
	case v.signIn:
		page := "a sign-in page"
		if v.title != "" {
			page += " titled " + quoted(v.title, 60)
		}
		return but + page + at + ": " + f.keyHint(p, keyed)
	case v.badJSON != "":
		return but + v.badJSON + at
	}
	return ""
}

// statusFailure is the reason of an answer that is not 2xx.
func (f *fetcher) statusFailure(code int, head []byte, p monitor.Probe, u *url.URL, keyed bool) string {
	s := fmt.Sprintf("HTTP %d from %s", code, f.where(u))
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return s + ": " + f.keyHint(p, keyed)
	case code == http.StatusNotFound:
		return s + ": not found (is the feed's connector failing, or the probe's path wrong?)"
	case len(bytes.TrimSpace(head)) > 0:
		return s + ": " + describeBody(head)
	}
	return s
}

// keyHint says what to check when a feed wants someone signed in.
func (f *fetcher) keyHint(p monitor.Probe, keyed bool) string {
	param := f.target.APIKeyParameter()
	switch {
	case keyed:
		return fmt.Sprintf("the API key did not let the probe in (check %s, and that its user may view the feed)", param)
	case p.Key && f.target.APIKey.IsZero():
		return "the probe sends the API key, but there is none at " + param
	case p.Key:
		return "the API key is never sent to another host (a sign-in proxy in front of ProGet?)"
	}
	return `is the feed private? End the probe's line with "key" to send the API key`
}

// readHead reads up to n bytes; complete is true when that was all.
func readHead(r io.Reader, n int) (head []byte, complete bool, err error) {
	head = make([]byte, n)
	k, err := io.ReadFull(r, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return head[:k], true, nil
	}
	return head[:k], false, err
}

// verdict is what a 2xx body is.
type verdict struct {
	err     error // reading failed
	empty   bool  // nothing but white space
	signIn  bool  // an HTML page with a password field
	title   string
	badJSON string // why a body declared as JSON does not parse
}

var (
	utf8BOM = []byte("\xef\xbb\xbf")
	// passwordField is what a sign-in page has and a feed's answer never does.
	passwordField = regexp.MustCompile(`(?i)<input\b[^>]*\btype\s*=\s*["']?password\b`)
)

// judgeBody reads a 2xx body, at most limit bytes of it, and says what it
// is. Only the first probeHead bytes are kept; the rest is judged as it
// streams. A body larger than limit is judged on what came before the
// limit: JSON that is valid as far as it was read passes.
func judgeBody(contentType string, body io.Reader, limit int64, red redactor) verdict {
	br := &boundedReader{r: body, left: limit}
	tr := &blankTracker{r: br}
	head, complete, _ := readHead(tr, int(min(limit, probeHead)))
	if br.err != nil {
		return verdict{err: br.err}
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	declaredJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	start := bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	startsJSON := len(start) > 0 && (start[0] == '{' || start[0] == '[')
	html := !startsJSON && (mt == "text/html" || mt == "application/xhtml+xml" || looksLikeHTML(start))

	var v verdict
	switch {
	case html:
		v.signIn = findPassword(head, tr)
		if v.signIn {
			if m := titleRE.FindSubmatch(red.prefix(head, complete)); m != nil {
				v.title = clean(strings.TrimSpace(string(m[1])), 200)
			}
			return v
		}
		if declaredJSON {
			v.badJSON = "the JSON does not parse: " + describeBody(red.prefix(head, complete))
		}
	case declaredJSON:
		v.badJSON = checkJSON(io.MultiReader(bytes.NewReader(bytes.TrimPrefix(head, utf8BOM)), tr), br)
	}
	if v.badJSON != "" {
		return v
	}
	// What was not judged yet must still arrive, within the bound.
	io.Copy(io.Discard, tr)
	v.err, v.empty = br.err, !tr.seen
	return v
}

// findPassword looks for a password field in head and in what follows.
func findPassword(head []byte, r io.Reader) bool {
	if passwordField.Match(head) {
		return true
	}
	const overlap = 1 << 10 // a field cut between two reads is seen whole
	window := append(make([]byte, 0, overlap+32<<10), head[max(0, len(head)-overlap):]...)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			window = append(window, buf[:n]...)
			if passwordField.Match(window) {
				return true
			}
			window = append(window[:0], window[max(0, len(window)-overlap):]...)
		}
		if err != nil {
			return false
		}
	}
}

// checkJSON checks that a body is one JSON value, with nothing but white
// space after it, and says why it does not parse, or "". A value cut by
// the read bound passes when it is valid as far as it goes.
func checkJSON(r io.Reader, br *boundedReader) string {
	var j jsonSyntax
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := j.write(buf[:n]); serr != nil {
				return "the JSON does not parse (" + serr.Error() + ")"
			}
		}
		if err != nil {
			break // the end, or a failed read that br holds
		}
	}
	if br.err != nil || br.cut || !j.started || j.complete() {
		return "" // a failed read and an empty body are reported as such
	}
	return fmt.Sprintf("the JSON does not parse (it ends unfinished, at byte %d)", j.offset())
}

// boundedReader reads at most left bytes, noting whether more followed and
// any error of the underlying body (a timeout, a reset).
type boundedReader struct {
	r      io.Reader
	left   int64
	cut    bool // more followed the bound
	peeked bool
	err    error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		if !b.peeked {
			b.peeked = true
			var one [1]byte
			n, err := io.ReadAtLeast(b.r, one[:], 1)
			// A body that fails right at the bound has still given all
			// that is judged: treat it as cut, not as a failed read.
			b.cut = n > 0 || err != nil && err != io.EOF && err != io.ErrUnexpectedEOF
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// blankTracker notes whether anything but white space went through.
type blankTracker struct {
	r    io.Reader
	seen bool
}

func (t *blankTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if !t.seen {
		for _, c := range bytes.TrimPrefix(p[:n], utf8BOM) {
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				t.seen = true
				break
			}
		}
	}
	return n, err
}
