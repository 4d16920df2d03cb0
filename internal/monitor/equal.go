package monitor

import (
	"reflect"
	"time"
)

// Equal reports whether two states hold the same remembered facts; the
// bookkeeping a store adds (version, timestamps of writes) is ignored. It
// walks every field, so a field added to State is compared without anyone
// remembering to: times compare as instants, and an empty slice or map equals
// a nil one (a store may decode either).
func Equal(a, b State) bool {
	a.Version, a.UpdatedAt, a.ExpiresAt = 0, time.Time{}, time.Time{}
	b.Version, b.UpdatedAt, b.ExpiresAt = 0, time.Time{}, time.Time{}
	return deepEqual(reflect.ValueOf(a), reflect.ValueOf(b))
}

var timeType = reflect.TypeFor[time.Time]()

func deepEqual(a, b reflect.Value) bool {
	if a.Type() == timeType {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if !deepEqual(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !deepEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !deepEqual(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return deepEqual(a.Elem(), b.Elem())
	default:
		return a.Equal(b)
	}
}
