package proget

import "fmt"

// jsonSyntax checks JSON syntax (RFC 8259, as json.Valid does) as bytes
// stream through it, holding only the stack of open containers: a probe
// judges a packument of megabytes without keeping it, and far faster than
// json.Decoder's tokens.
type jsonSyntax struct {
	stack   []byte // '{' or '[' of each open container
	st      jstate
	key     bool   // the string being read is an object's key
	hex     int    // digits left in a \uXXXX escape
	lit     string // what is left of true, false or null
	n       int64  // bytes written before the current chunk
	started bool   // a value began
}

type jstate uint8

const (
	jsBegin      jstate = iota // before the top-level value
	jsValue                    // a value must come: after ':', or ',' in an array
	jsValueOrEnd               // after '[': a value or ']'
	jsKeyOrEnd                 // after '{': a key or '}'
	jsKey                      // after ',' in an object: a key
	jsColon                    // after a key
	jsAfter                    // after a value in a container: ',' or its close
	jsEnd                      // after the top-level value: white space only
	jsString
	jsEscape
	jsHex
	jsLiteral
	jsMinus // number states, as RFC 8259 spells numbers
	jsZero
	jsInt
	jsDot
	jsFrac
	jsE
	jsESign
	jsExp
)

// syntaxError is where a body stops being JSON.
type syntaxError struct {
	offset int64
	what   string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.what, e.offset) }

// write checks the next bytes of the body.
func (j *jsonSyntax) write(b []byte) error {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch j.st {
		case jsString:
			for c != '"' && c != '\\' && c >= 0x20 { // the common case, quickly
				if i++; i == len(b) {
					j.n += int64(len(b))
					return nil
				}
				c = b[i]
			}
			switch {
			case c == '"':
				if j.key {
					j.st = jsColon
				} else {
					j.endValue()
				}
			case c == '\\':
				j.st = jsEscape
			default:
				return j.fail(i, "a control character in a string")
			}
			continue
		case jsEscape:
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j.st = jsString
			case 'u':
				j.st, j.hex = jsHex, 4
			default:
				return j.fail(i, "an invalid escape in a string")
			}
			continue
		case jsHex:
			if !isHexDigit(c) {
				return j.fail(i, "an invalid \\u escape in a string")
			}
			if j.hex--; j.hex == 0 {
				j.st = jsString
			}
			continue
		case jsLiteral:
			if c != j.lit[0] {
				return j.fail(i, "an invalid literal")
			}
			if j.lit = j.lit[1:]; j.lit == "" {
				j.endValue()
			}
			continue
		case jsMinus:
			switch {
			case c == '0':
				j.st = jsZero
			case '1' <= c && c <= '9':
				j.st = jsInt
			default:
				return j.fail(i, "an invalid number")
			}
			continue
		case jsDot, jsE, jsESign:
			switch {
			case isDigit(c) && j.st == jsDot:
				j.st = jsFrac
			case isDigit(c):
				j.st = jsExp
			case (c == '+' || c == '-') && j.st == jsE:
				j.st = jsESign
			default:
				return j.fail(i, "an invalid number")
			}
			continue
		case jsZero, jsInt, jsFrac, jsExp:
			switch {
			case isDigit(c) && j.st != jsZero:
				continue
			case c == '.' && (j.st == jsZero || j.st == jsInt):
				j.st = jsDot
				continue
			case (c == 'e' || c == 'E') && j.st != jsExp:
				j.st = jsE
				continue
			}
			j.endValue() // the number ended: c is what follows it
		}
		if err := j.structural(c, i); err != nil {
			return err
		}
	}
	j.n += int64(len(b))
	return nil
}

// structural handles a byte outside strings, numbers and literals.
func (j *jsonSyntax) structural(c byte, i int) error {
	if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
		return nil
	}
	switch j.st {
	case jsBegin, jsValue, jsValueOrEnd:
		if c == ']' && j.st == jsValueOrEnd {
			j.close()
			return nil
		}
		if !j.beginValue(c) {
			return j.fail(i, "a value was expected")
		}
	case jsKeyOrEnd, jsKey:
		switch {
		case c == '}' && j.st == jsKeyOrEnd:
			j.close()
		case c == '"':
			j.st, j.key = jsString, true
		default:
			return j.fail(i, "a key was expected")
		}
	case jsColon:
		if c != ':' {
			return j.fail(i, "a colon was expected")
		}
		j.st = jsValue
	case jsAfter:
		top := j.stack[len(j.stack)-1]
		switch {
		case c == ',' && top == '{':
			j.st = jsKey
		case c == ',' && top == '[':
			j.st = jsValue
		case c == '}' && top == '{', c == ']' && top == '[':
			j.close()
		default:
			return j.fail(i, "a comma or a closing bracket was expected")
		}
	case jsEnd:
		return j.fail(i, "more follows the value")
	}
	return nil
}

func (j *jsonSyntax) beginValue(c byte) bool {
	j.started, j.key = true, false
	switch {
	case c == '{':
		j.stack, j.st = append(j.stack, '{'), jsKeyOrEnd
	case c == '[':
		j.stack, j.st = append(j.stack, '['), jsValueOrEnd
	case c == '"':
		j.st = jsString
	case c == '-':
		j.st = jsMinus
	case c == '0':
		j.st = jsZero
	case '1' <= c && c <= '9':
		j.st = jsInt
	case c == 't':
		j.st, j.lit = jsLiteral, "rue"
	case c == 'f':
		j.st, j.lit = jsLiteral, "alse"
	case c == 'n':
		j.st, j.lit = jsLiteral, "ull"
	default:
		return false
	}
	return true
}

func (j *jsonSyntax) close() {
	j.stack = j.stack[:len(j.stack)-1]
	j.endValue()
}

func (j *jsonSyntax) endValue() {
	if len(j.stack) == 0 {
		j.st = jsEnd
	} else {
		j.st = jsAfter
	}
}

func (j *jsonSyntax) fail(i int, what string) error {
	return &syntaxError{offset: j.n + int64(i), what: what}
}

// complete reports, once the body has ended, whether it held one whole value.
func (j *jsonSyntax) complete() bool {
	switch j.st {
	case jsZero, jsInt, jsFrac, jsExp:
		return len(j.stack) == 0
	}
	return j.st == jsEnd
}

// offset is how many bytes were checked.
func (j *jsonSyntax) offset() int64 { return j.n }

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
