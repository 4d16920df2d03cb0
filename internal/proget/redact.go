package proget

import (
	"strconv"
	"unicode/utf8"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

const redactedText = "[redacted]"

// redactor removes one API key from what an instance sends back. It runs on
// the raw bytes of an answer, before anything parses, cuts or quotes them: a
// key scrubbed after a text was cut to length survives in part when it
// straddles the cut. The zero redactor changes nothing.
type redactor struct{ key []rune }

func newRedactor(k monitor.Secret) redactor {
	if k.IsZero() {
		return redactor{}
	}
	return redactor{key: []rune(k.Reveal())}
}

// bytes returns b with every occurrence of the key replaced. Each character
// of the key also matches in another case (an ASCII letter) and escaped as
// servers escape text they echo: JSON (\u002B, \/), HTML (&#43;, &#x2b;,
// &amp;) or URL (%2B) encoding. b is returned as is when it holds no key.
func (r redactor) bytes(b []byte) []byte {
	if len(r.key) == 0 {
		return b
	}
	var out []byte // allocated at the first match
	for i := 0; i < len(b); {
		if end := r.matchAt(b, i); end > i {
			if out == nil {
				out = append(make([]byte, 0, len(b)), b[:i]...)
			}
			out = append(out, redactedText...)
			i = end
			continue
		}
		if out != nil {
			out = append(out, b[i])
		}
		i++
	}
	if out == nil {
		return b
	}
	return out
}

// prefix scrubs the start of a body that was cut: a key that straddles the
// cut cannot be seen whole, so the end where it could start is dropped too.
// complete says that nothing was cut.
func (r redactor) prefix(b []byte, complete bool) []byte {
	out := r.bytes(b)
	if complete || len(r.key) == 0 {
		return out
	}
	// The longest spelling of a character is an entity such as &#x0002B;
	// (matchEntity reads at most 12 bytes); the [redacted] that may follow a
	// piece of a key is counted too.
	drop := 12*len(r.key) + len(redactedText)
	return out[:max(0, len(out)-drop)]
}

func (r redactor) string(s string) string {
	if len(r.key) == 0 {
		return s
	}
	return string(r.bytes([]byte(s)))
}

// matchAt returns where the key ends when it starts at i, or i.
func (r redactor) matchAt(b []byte, i int) int {
	pos := i
	for _, c := range r.key {
		n := matchChar(b[pos:], c)
		if n == 0 {
			return i
		}
		pos += n
	}
	return pos
}

// matchChar returns how many bytes at the start of b spell c, or 0.
func matchChar(b []byte, c rune) int {
	if len(b) == 0 {
		return 0
	}
	if got, n := utf8.DecodeRune(b); got == c || foldASCII(got) == foldASCII(c) && got < utf8.RuneSelf {
		return n
	}
	switch b[0] {
	case '\\':
		if len(b) >= 6 && b[1] == 'u' {
			if v, ok := hexValue(b[2:6]); ok && rune(v) == c {
				return 6
			}
		}
		if len(b) >= 2 && jsonEscapes[b[1]] == c && c != 0 {
			return 2
		}
	case '%':
		if len(b) >= 3 && c < utf8.RuneSelf {
			if v, ok := hexValue(b[1:3]); ok && rune(v) == c {
				return 3
			}
		}
	case '&':
		return matchEntity(b, c)
	}
	return 0
}

var jsonEscapes = map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

var namedEntities = map[string]rune{"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\'', "plus": '+', "sol": '/', "equals": '=', "num": '#', "percnt": '%'}

// matchEntity matches an HTML character reference for c: &#43; &#x2B; &plus;.
func matchEntity(b []byte, c rune) int {
	end := 0
	for j := 1; j < len(b) && j < 12; j++ {
		if b[j] == ';' {
			end = j
			break
		}
	}
	if end < 2 {
		return 0
	}
	ref := string(b[1:end])
	var v rune = -1
	switch {
	case ref[0] == '#' && len(ref) > 1 && (ref[1] == 'x' || ref[1] == 'X'):
		if n, err := strconv.ParseUint(ref[2:], 16, 32); err == nil {
			v = rune(n)
		}
	case ref[0] == '#':
		if n, err := strconv.ParseUint(ref[1:], 10, 32); err == nil {
			v = rune(n)
		}
	default:
		if r, ok := namedEntities[ref]; ok {
			v = r
		}
	}
	if v != c {
		return 0
	}
	return end + 1
}

func hexValue(h []byte) (uint64, bool) {
	n, err := strconv.ParseUint(string(h), 16, 32)
	return n, err == nil
}

func foldASCII(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// observation scrubs every text of an observation: a last pass over what the
// raw scrub already cleaned, for texts built from several answers.
func (r redactor) observation(o *monitor.Observation) {
	if len(r.key) == 0 {
		return
	}
	for _, rd := range []*monitor.Reading{&o.Instance, &o.Connectors} {
		rd.Component, rd.Detail = r.string(rd.Component), r.string(rd.Detail)
	}
	o.Release = r.string(o.Release)
	for i := range o.Extensions {
		o.Extensions[i] = r.string(o.Extensions[i])
	}
	if o.Certificate != nil {
		o.Certificate.Detail = r.string(o.Certificate.Detail)
	}
	for _, list := range [][]monitor.Reading{o.Health, o.ConnectorList, o.Probes} {
		for i := range list {
			list[i].Component = r.string(list[i].Component)
			list[i].Detail = r.string(list[i].Detail)
		}
	}
}
