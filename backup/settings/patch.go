package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Patch is a settings update. Values maps the JSON name of each
// setting to change to its new value as JSON — what a PUT body carries;
// Set fills it from Go values. null, or "", clears a schedule.
// ChangeReason is required.
type Patch struct {
	Values       map[string]json.RawMessage
	ChangeReason string
}

// Set records the new value of the named setting: a Go value that encodes
// to JSON of the setting's type, or a json.RawMessage; nil clears a
// schedule. The value is stored normalized (trimmed, cleaned). The error is
// a *Error: the name is not a setting, or the value is null or not
// of the setting's type (Field.Want says what is).
func (p *Patch) Set(name string, v any) error {
	f, err := lookup(name)
	if err != nil {
		return err
	}
	var s Settings
	if err := f.decode(&s, v); err != nil {
		return err
	}
	raw, err := json.Marshal(f.value(&s))
	if err != nil {
		return err
	}
	if p.Values == nil {
		p.Values = map[string]json.RawMessage{}
	}
	p.Values[name] = raw
	return nil
}

// Apply returns s with the patch's values set and normalized, and the JSON
// names of the settings whose value that changes, in the table's order. It
// does not validate the result (Settings.Validate does). The error is a
// *Error: a name that is not a setting, or a value of another type.
func (p Patch) Apply(s Settings) (Settings, []string, error) {
	values := p.Values
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if _, err := lookup(name); err != nil {
			return s, nil, err
		}
	}
	next := s
	for _, f := range table {
		if v, ok := values[f.Name]; ok {
			if err := f.decode(&next, v); err != nil {
				return s, nil, err
			}
		}
	}
	next.normalize()
	before, after := Values(s), Values(next)
	var changed []string
	for _, f := range table {
		if _, ok := values[f.Name]; ok && !bytes.Equal(before[f.Name], after[f.Name]) {
			changed = append(changed, f.Name)
		}
	}
	return next, changed, nil
}

// lookupSetting is Lookup with a *Error for an unknown name.
func lookup(name string) (Field, error) {
	f, ok := Lookup(name)
	if !ok {
		return Field{}, &Error{Field: name, Problem: "not a setting (one of " + strings.Join(editable, ", ") + ")"}
	}
	return f, nil
}

// decode sets the field in s to v, normalized: v encodes to JSON, which must
// be of the field's type (and not null unless the field is nullable).
func (f Field) decode(s *Settings, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return &Error{Field: f.Name, Problem: fmt.Sprintf("not %s: %v", f.Want(), err)}
	}
	if string(raw) == "null" && !f.Nullable() {
		return &Error{Field: f.Name, Problem: fmt.Sprintf("must not be null (want %s)", f.Want())}
	}
	f.ref(s).SetZero() // decode into a fresh value, never through a pointer s shares
	if err := json.Unmarshal(raw, f.value(s)); err != nil {
		f.ref(s).SetZero()
		return &Error{Field: f.Name, Problem: fmt.Sprintf("%.60s is not %s", raw, f.Want())}
	}
	if n := fieldKinds[f.Type].normalize; n != nil {
		n(f.value(s))
	}
	return nil
}

// settingsValues encodes the editable settings of s by JSON name (the
// settings rows' values).
func Values(s Settings) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(table))
	for _, f := range table {
		out[f.Name], _ = json.Marshal(f.value(&s))
	}
	return out
}

// settingsFrom decodes stored rows over base: a setting without a row, or
// with a row that does not decode, keeps base's value (copied, never shared).
func FromValues(base Settings, rows map[string]json.RawMessage) Settings {
	var s Settings
	for _, f := range table {
		raw, ok := rows[f.Name]
		if !ok || json.Unmarshal(raw, f.value(&s)) != nil {
			f.ref(&s).SetZero()
			raw, _ = json.Marshal(f.value(&base))
			_ = json.Unmarshal(raw, f.value(&s))
		}
		if v := f.ref(&s); v.Kind() == reflect.Slice && v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
	}
	return s
}
