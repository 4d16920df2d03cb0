package metrics

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MaxDimensionValue is the longest dimension value CloudWatch accepts.
const MaxDimensionValue = 1024

// DimensionValue maps a name to a value CloudWatch accepts: printable ASCII,
// 1 to 1024 characters, not only spaces. A name within those rules is kept as
// it is. Any other is written with each byte outside printable ASCII, and
// each "%", as %XX of its UTF-8 (as in URLs: "prüf" is "pr%C3%BCf"); an empty
// one is "(empty)"; one still too long keeps its first 1000 characters and a
// hash of the whole ("~" and 8 hex digits). The mapping is the same on every
// run, so a series stays one series; alerts keep the real name.
func DimensionValue(s string) string {
	if valid(s) {
		return s
	}
	if strings.TrimSpace(s) == "" {
		return "(empty)"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	if len(out) > MaxDimensionValue {
		h := sha256.Sum256([]byte(s))
		out = out[:1000] + "~" + hex.EncodeToString(h[:4])
	}
	return out
}

func valid(s string) bool {
	if len(s) == 0 || len(s) > MaxDimensionValue || strings.TrimSpace(s) == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
