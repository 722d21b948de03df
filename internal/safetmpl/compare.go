package safetmpl

import (
	"errors"
	"fmt"
	"reflect"
)

// Comparisons for page templates. A module's data reaches its template as
// JSON, where 8.0 and 8 are the same number: the host decodes it as the
// integer 8, and text/template's own eq, lt… refuse to compare an integer
// with a float ({{if gt .Price 2.5}} would fail for a whole price only).
// These replace them with the same meaning, except that numbers of any
// kind compare by value.

var errCompare = errors.New("incompatible types for comparison")

// number is v's value as a number: exact for integers, float64 otherwise.
type number struct {
	isInt bool
	i     int64
	u     uint64 // for uint64 values above MaxInt64
	big   bool   // u holds the value
	f     float64
}

func asNumber(v reflect.Value) (number, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return number{isInt: true, i: v.Int(), f: float64(v.Int())}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u > 1<<63-1 {
			return number{isInt: true, big: true, u: u, f: float64(u)}, true
		}
		return number{isInt: true, i: int64(u), f: float64(u)}, true
	case reflect.Float32, reflect.Float64:
		return number{f: v.Float()}, true
	}
	return number{}, false
}

// cmpNumbers is -1, 0 or 1 as a is less than, equal to or greater than b
// (false for a NaN).
func cmpNumbers(a, b number) (int, bool) {
	if a.isInt && b.isInt {
		switch {
		case a.big && b.big:
			return cmpOrdered(a.u, b.u), true
		case a.big:
			return 1, true
		case b.big:
			return -1, true
		}
		return cmpOrdered(a.i, b.i), true
	}
	if a.f != a.f || b.f != b.f {
		return 0, false
	}
	return cmpOrdered(a.f, b.f), true
}

func cmpOrdered[T int64 | uint64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func indirect(v any) reflect.Value {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && (rv.Kind() == reflect.Interface || rv.Kind() == reflect.Pointer) && !rv.IsNil() {
		rv = rv.Elem()
	}
	return rv
}

// compare is -1, 0 or 1 for ordered values (numbers, strings); ordered
// false means a and b can only be tested for equality (eq is true).
func compare(a, b any) (c int, ordered bool, err error) {
	va, vb := indirect(a), indirect(b)
	if na, ok := asNumber(va); ok {
		if nb, ok := asNumber(vb); ok {
			c, ok := cmpNumbers(na, nb)
			if !ok {
				return 1, true, nil // NaN: equal to nothing, not less or more
			}
			return c, true, nil
		}
		return 0, false, errCompare
	}
	switch {
	case va.Kind() == reflect.String && vb.Kind() == reflect.String:
		return cmpOrdered(va.String(), vb.String()), true, nil
	case va.Kind() == reflect.Bool && vb.Kind() == reflect.Bool:
		if va.Bool() == vb.Bool() {
			return 0, false, nil
		}
		return 1, false, nil
	case !va.IsValid() || !vb.IsValid() || isNil(va) || isNil(vb):
		if (!va.IsValid() || isNil(va)) && (!vb.IsValid() || isNil(vb)) {
			return 0, false, nil
		}
		return 1, false, nil
	}
	return 0, false, errCompare
}

func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// comparisons are the replacements of text/template's eq, ne, lt, le, gt
// and ge.
func comparisons() map[string]any {
	order := func(name string, ok func(c int) bool) func(a, b any) (bool, error) {
		return func(a, b any) (bool, error) {
			c, ordered, err := compare(a, b)
			if err != nil {
				return false, fmt.Errorf("%s: %w (%T and %T)", name, err, a, b)
			}
			if !ordered {
				return false, fmt.Errorf("%s: values of type %T are not ordered", name, a)
			}
			return ok(c), nil
		}
	}
	return map[string]any{
		"eq": func(a any, bs ...any) (bool, error) {
			if len(bs) == 0 {
				return false, errors.New("eq: missing argument for comparison")
			}
			for _, b := range bs {
				c, _, err := compare(a, b)
				if err != nil {
					return false, fmt.Errorf("eq: %w (%T and %T)", err, a, b)
				}
				if c == 0 {
					return true, nil
				}
			}
			return false, nil
		},
		"ne": func(a, b any) (bool, error) {
			c, _, err := compare(a, b)
			if err != nil {
				return false, fmt.Errorf("ne: %w (%T and %T)", err, a, b)
			}
			return c != 0, nil
		},
		"lt": order("lt", func(c int) bool { return c < 0 }),
		"le": order("le", func(c int) bool { return c <= 0 }),
		"gt": order("gt", func(c int) bool { return c > 0 }),
		"ge": order("ge", func(c int) bool { return c >= 0 }),
	}
}
