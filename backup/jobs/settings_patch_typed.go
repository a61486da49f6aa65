package jobs

import "reflect"

// Transitional: SettingsPatch's typed fields (Enabled … StopServices).
// UpdateSettings and Apply still read them and Set keeps them in step with
// Values, by reflection through the settings table (the typed field has
// the Go name of the setting's Settings field), so a new setting needs
// none. Remove the fields and this file once their last users —
// backup/jobs/store_test.go, backup/jobs/schedule_test.go and
// backup/httpapi/fake_test.go — use Set, Values and Apply.

// values is the patch by JSON name: the typed fields that are set, then
// Values (which wins).
func (p SettingsPatch) values() map[string]any {
	out := map[string]any{}
	pv := reflect.ValueOf(p)
	for _, f := range settingsFields {
		if tf := pv.FieldByName(settingsGoNames[f.Name]); tf.IsValid() && tf.Kind() == reflect.Pointer && !tf.IsNil() {
			out[f.Name] = tf.Elem().Interface()
		}
	}
	for k, v := range p.Values {
		out[k] = v
	}
	return out
}

// mirrorTyped sets f's typed field, if the patch has one, to f's value in s.
func (p *SettingsPatch) mirrorTyped(f Field, s *Settings) {
	v := f.ref(s)
	tf := reflect.ValueOf(p).Elem().FieldByName(settingsGoNames[f.Name])
	if !tf.IsValid() || tf.Type() != reflect.PointerTo(v.Type()) {
		return
	}
	ptr := reflect.New(v.Type())
	ptr.Elem().Set(v)
	tf.Set(ptr)
}
