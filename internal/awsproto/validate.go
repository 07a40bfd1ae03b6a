package awsproto

import (
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// maxValidationErrors is how many constraint violations AWS lists in one
// ValidationException message.
const maxValidationErrors = 10

// Validator collects constraint violations in the order AWS reports them and
// turns them into one ValidationException. Generated Validate methods drive
// it; the zero value is ready to use.
type Validator struct {
	errs []string
}

// Err returns nil when nothing failed, else a ValidationException whose
// message reads like AWS's: "2 validation errors detected: ...; ...".
func (v *Validator) Err() error {
	if len(v.errs) == 0 {
		return nil
	}
	s := "s"
	if len(v.errs) == 1 {
		s = ""
	}
	return &Error{
		Code:    CodeValidation,
		Message: fmt.Sprintf("%d validation error%s detected: %s", len(v.errs), s, strings.Join(v.errs, "; ")),
		Status:  http.StatusBadRequest,
	}
}

// Full reports whether no further violations will be recorded.
func (v *Validator) Full() bool { return len(v.errs) >= maxValidationErrors }

// Fail records a violation. value is the rendered value, or "null".
func (v *Validator) Fail(path *Path, value, constraint string) {
	if v.Full() {
		return
	}
	if value != "null" {
		value = "'" + value + "'"
	}
	v.errs = append(v.errs, "Value "+value+" at '"+path.String()+"' failed to satisfy constraint: "+constraint)
}

// Failed reports whether a violation was recorded.
func (v *Validator) Failed() bool { return len(v.errs) > 0 }

// Required records "Member must not be null" when isNil is true and reports
// whether the member is present.
func (v *Validator) Required(path *Path, isNil bool) bool {
	if isNil {
		v.Fail(path, "null", "Member must not be null")
	}
	return !isNil
}

// Path is where a member sits in a request. Generated validators build
// paths on the stack as they descend; the text AWS reports
// ('records.1.member.partitionKey') is built only for a violation, so that
// valid input costs no allocation. A nil *Path is the request itself.
type Path struct {
	parent *Path
	name   string // member name (as in the model) or map key
	elem   int    // list element: its index + 1; 0 otherwise
	key    bool   // name is a map key
}

// Member is the path of a member of the structure at p.
func (p *Path) Member(name string) *Path { return &Path{parent: p, name: name} }

// Elem is the path of the i-th (0-based) element of the list at p: AWS
// counts from 1 and adds ".member".
func (p *Path) Elem(i int) *Path { return &Path{parent: p, elem: i + 1} }

// Key is the path of the value under key in the map at p.
func (p *Path) Key(key string) *Path { return &Path{parent: p, name: key, key: true} }

// String is the path as AWS writes it: member names in lowerCamel case,
// joined by dots, list elements as "N.member", map values as "key.member".
func (p *Path) String() string {
	if p == nil {
		return ""
	}
	var seg string
	switch {
	case p.elem > 0:
		seg = strconv.Itoa(p.elem) + ".member"
	case p.key:
		seg = p.name + ".member"
	default:
		seg = LowerFirst(p.name)
	}
	if p.parent == nil {
		return seg
	}
	return p.parent.String() + "." + seg
}

// LowerFirst lower-cases the first letter of an AWS member name.
func LowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// Bound is an optional inclusive limit from the service model.
type Bound struct {
	Set   bool
	Value int64
}

// Limit returns a set Bound.
func Limit(n int64) Bound { return Bound{Set: true, Value: n} }

// StringRule holds a string shape's constraints from the service model.
type StringRule struct {
	Min, Max Bound
	// Pattern is the model's regular expression, matched against the whole
	// value; PatternText is the model's text of it, as AWS quotes it.
	Pattern     *Pattern
	PatternText string
	Enum        []string
}

// javaLength is String.length() in Java: UTF-16 code units. AWS counts
// string lengths that way.
func javaLength(s string) int64 {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return int64(n)
}

func (r *StringRule) constraints() []string {
	var c []string
	if r.Max.Set {
		c = append(c, fmt.Sprintf("Member must have length less than or equal to %d", r.Max.Value))
	}
	if r.Min.Set {
		c = append(c, fmt.Sprintf("Member must have length greater than or equal to %d", r.Min.Value))
	}
	if r.Pattern != nil {
		c = append(c, "Member must satisfy regular expression pattern: "+r.PatternText)
	}
	if len(r.Enum) > 0 {
		c = append(c, "Member must satisfy enum value set: ["+strings.Join(r.Enum, ", ")+"]")
	}
	return c
}

func (r *StringRule) ok(s string) bool {
	n := javaLength(s)
	if r.Pattern != nil && !r.Pattern.MatchString(s) {
		return false
	}
	if r.Min.Set && n < r.Min.Value || r.Max.Set && n > r.Max.Value {
		return false
	}
	if len(r.Enum) > 0 && !contains(r.Enum, s) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// String checks a string member in AWS's order: pattern, minimum length,
// maximum length, enum.
func (v *Validator) String(path *Path, s string, r *StringRule) {
	if r.Pattern != nil && !r.Pattern.MatchString(s) {
		v.Fail(path, s, "Member must satisfy regular expression pattern: "+r.PatternText)
	}
	n := javaLength(s)
	if r.Min.Set && n < r.Min.Value {
		v.Fail(path, s, fmt.Sprintf("Member must have length greater than or equal to %d", r.Min.Value))
	}
	if r.Max.Set && n > r.Max.Value {
		v.Fail(path, s, fmt.Sprintf("Member must have length less than or equal to %d", r.Max.Value))
	}
	if len(r.Enum) > 0 && !contains(r.Enum, s) {
		v.Fail(path, s, "Member must satisfy enum value set: ["+strings.Join(r.Enum, ", ")+"]")
	}
}

// Number checks an integer member's range.
func (v *Validator) Number(path *Path, n int64, min, max Bound) {
	if min.Set && n < min.Value {
		v.Fail(path, strconv.FormatInt(n, 10), fmt.Sprintf("Member must have value greater than or equal to %d", min.Value))
	}
	if max.Set && n > max.Value {
		v.Fail(path, strconv.FormatInt(n, 10), fmt.Sprintf("Member must have value less than or equal to %d", max.Value))
	}
}

// Float checks a floating-point member's range.
func (v *Validator) Float(path *Path, f float64, min, max Bound) {
	if min.Set && f < float64(min.Value) {
		v.Fail(path, strconv.FormatFloat(f, 'f', -1, 64), fmt.Sprintf("Member must have value greater than or equal to %d", min.Value))
	}
	if max.Set && f > float64(max.Value) {
		v.Fail(path, strconv.FormatFloat(f, 'f', -1, 64), fmt.Sprintf("Member must have value less than or equal to %d", max.Value))
	}
}

// Length checks the length of a blob, list or map; value is rendered only
// when a check fails. It is generic so that passing value costs nothing
// when it passes.
func Length[T any](v *Validator, path *Path, n int64, value T, min, max Bound) {
	if min.Set && n < min.Value {
		v.Fail(path, Render(value), fmt.Sprintf("Member must have length greater than or equal to %d", min.Value))
	}
	if max.Set && n > max.Value {
		v.Fail(path, Render(value), fmt.Sprintf("Member must have length less than or equal to %d", max.Value))
	}
}

// ListMembers checks the scalar members of a list. AWS reports one error at
// the list's path that names all the member constraints:
// "Member must satisfy constraint: [Member must have length less than or
// equal to 128, Member must have length greater than or equal to 1]".
func ListMembers[T ~string](v *Validator, path *Path, list []T, r *StringRule) {
	for _, s := range list {
		if !r.ok(string(s)) {
			v.Fail(path, Render(list), "Member must satisfy constraint: ["+strings.Join(r.constraints(), ", ")+"]")
			return
		}
	}
}

// MapEntries checks the keys and values of a string map, as AWS does:
// "Map keys must satisfy constraint: [...]" and "Map value must satisfy
// constraint: [...]" at the map's path.
func MapEntries[K ~string, V ~string](v *Validator, path *Path, m map[K]V, key, value *StringRule) {
	if key != nil {
		for k := range m {
			if !key.ok(string(k)) {
				v.Fail(path, Render(m), "Map keys must satisfy constraint: ["+strings.Join(key.constraints(), ", ")+"]")
				break
			}
		}
	}
	if value != nil {
		for _, val := range m {
			if !value.ok(string(val)) {
				v.Fail(path, Render(m), "Map value must satisfy constraint: ["+strings.Join(value.constraints(), ", ")+"]")
				break
			}
		}
	}
}

// Render writes a value the way AWS's Java services print it in validation
// messages: blobs as java.nio.HeapByteBuffer[pos=0 lim=N cap=N], lists as
// [a, b], maps as {k=v}, structures as {Member: value, ...}.
func Render(value any) string {
	var b strings.Builder
	render(&b, reflect.ValueOf(value))
	return b.String()
}

func render(b *strings.Builder, rv reflect.Value) {
	if !rv.IsValid() {
		b.WriteString("null")
		return
	}
	if t, ok := rv.Interface().(Timestamp); ok {
		b.WriteString(t.UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
		return
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			b.WriteString("null")
			return
		}
		render(b, rv.Elem())
	case reflect.String:
		b.WriteString(rv.String())
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(rv.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.WriteString(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.WriteString(strconv.FormatFloat(rv.Float(), 'f', -1, 64))
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			fmt.Fprintf(b, "java.nio.HeapByteBuffer[pos=0 lim=%d cap=%d]", rv.Len(), rv.Len())
			return
		}
		b.WriteByte('[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			render(b, rv.Index(i))
		}
		b.WriteByte(']')
	case reflect.Map:
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			render(b, k)
			b.WriteByte('=')
			render(b, rv.MapIndex(k))
		}
		b.WriteByte('}')
	case reflect.Struct:
		b.WriteByte('{')
		first := true
		for i := 0; i < rv.NumField(); i++ {
			f := rv.Type().Field(i)
			fv := rv.Field(i)
			if !f.IsExported() || (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.IsNil() {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(f.Name + ": ")
			render(b, fv)
		}
		b.WriteByte('}')
	default:
		fmt.Fprint(b, rv.Interface())
	}
}

// SortedKeys returns a map's keys in order, so that map members are
// validated deterministically.
func SortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
