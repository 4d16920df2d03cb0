package store

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB refuses an item over 400 KB. The store keeps every item well
// under it, whatever an incident puts in the state: past maxItemBytes, the
// free texts (details of components and of pending alerts) are cut, all to
// the same length, as little as needed. Statuses, names and alerts are never
// dropped; the decision and the outbox bound how many there are.
const (
	maxItemBytes = 350_000
)

// ItemSize is an item's size as DynamoDB counts it: attribute names (and map
// keys) plus values, with the overhead of lists, maps and numbers.
func ItemSize(av map[string]types.AttributeValue) int {
	n := 0
	for k, v := range av {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch t := v.(type) {
	case *types.AttributeValueMemberS:
		return len(t.Value)
	case *types.AttributeValueMemberN:
		digits := len(strings.TrimLeft(strings.TrimPrefix(t.Value, "-"), "0"))
		return (digits+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(t.Value)
	case *types.AttributeValueMemberM:
		s := 3
		for k, x := range t.Value {
			s += len(k) + valueSize(x) + 1
		}
		return s
	case *types.AttributeValueMemberL:
		s := 3
		for _, x := range t.Value {
			s += valueSize(x) + 1
		}
		return s
	case *types.AttributeValueMemberSS:
		s := 0
		for _, x := range t.Value {
			s += len(x)
		}
		return s
	}
	return 1 // BOOL, NULL
}

// encode marshals the item, cutting details until it fits maxItemBytes.
func encode(it item) (map[string]types.AttributeValue, error) {
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return nil, err
	}
	size := ItemSize(av)
	if size <= maxItemBytes {
		return av, nil
	}
	longest := it.longestDetail()
	lo, hi := 0, longest // the longest cut that fits lies in [lo, hi)
	var best map[string]types.AttributeValue
	for lo < hi {
		mid := (lo + hi) / 2
		cand, err := attributevalue.MarshalMap(it.cutDetails(mid))
		if err != nil {
			return nil, err
		}
		if ItemSize(cand) <= maxItemBytes {
			best, lo = cand, mid+1
		} else {
			hi = mid
		}
	}
	if best == nil {
		return nil, fmt.Errorf("the state is %d bytes, and still over %d with every detail cut: too many components or pending alerts", size, maxItemBytes)
	}
	return best, nil
}

func (it item) longestDetail() int {
	n := 0
	for _, c := range it.Components {
		n = max(n, len(c.Detail))
	}
	for _, p := range it.Outbox {
		for _, c := range p.Changes {
			n = max(n, len(c.Detail))
		}
		for _, x := range p.Notices {
			n = max(n, len(x.Detail))
		}
	}
	return n
}

// cutDetails returns a copy with every detail cut to at most n bytes.
func (it item) cutDetails(n int) item {
	out := it
	out.Components = make(map[string]component, len(it.Components))
	for name, c := range it.Components {
		c.Detail = cutBytes(c.Detail, n)
		out.Components[name] = c
	}
	out.Outbox = make([]pending, len(it.Outbox))
	for i, p := range it.Outbox {
		p.Changes = append([]change(nil), p.Changes...)
		for j := range p.Changes {
			p.Changes[j].Detail = cutBytes(p.Changes[j].Detail, n)
		}
		p.Notices = append([]notice(nil), p.Notices...)
		for j := range p.Notices {
			p.Notices[j].Detail = cutBytes(p.Notices[j].Detail, n)
		}
		out.Outbox[i] = p
	}
	return out
}

// cutBytes cuts s to at most n bytes on a character boundary, marking the cut.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 4 {
		return ""
	}
	cut := n - 3
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
