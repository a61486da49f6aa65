package settings

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/storage"
)

// fieldKind is what a FieldType means: the Go type of the field in
// Settings, what a PUT must send, and how a value is normalized and checked.
// normalize and check get the field's address (f.value).
type fieldKind struct {
	goType    reflect.Type
	want      string // what a PUT must send; TypeInt says its range
	nullable  bool   // JSON null is a value (it clears a schedule)
	normalize func(p any)
	check     func(f Field, p any) []string // the problems, none when acceptable
}

var fieldKinds = map[FieldType]fieldKind{
	TypeBool:     {goType: reflect.TypeFor[bool](), want: "true or false"},
	TypeString:   {goType: reflect.TypeFor[string](), want: "a string", normalize: trimString},
	TypeChoice:   {goType: reflect.TypeFor[string](), want: "a string", normalize: trimString, check: checkChoice},
	TypePath:     {goType: reflect.TypeFor[string](), want: "a string", normalize: normalizePath, check: checkPath},
	TypeProject:  {goType: reflect.TypeFor[string](), want: "a string", normalize: trimString, check: checkProject},
	TypeSchedule: {goType: reflect.TypeFor[*string](), want: "a 5-field cron expression or null", nullable: true, normalize: normalizeSchedule, check: checkSchedule},
	TypeInt:      {goType: reflect.TypeFor[int](), check: checkRange},
	TypeServices: {goType: reflect.TypeFor[[]string](), want: "a list of compose service names", normalize: normalizeServices, check: checkServices},
	TypeTarget:   {goType: reflect.TypeFor[string](), want: "a string", normalize: normalizeTarget, check: checkTarget},
	TypeEndpoint: {goType: reflect.TypeFor[string](), want: "a string", normalize: trimString, check: checkEndpoint},
}

// normalizeTarget cleans a path, or writes an s3:// URL back canonically.
func normalizeTarget(p any) {
	s := p.(*string)
	*s = strings.TrimSpace(*s)
	if storage.IsS3URL(*s) {
		if t, err := storage.ParseTarget(*s); err == nil {
			*s = t.String()
		}
		return
	}
	normalizePath(p)
}

func checkTarget(f Field, p any) []string {
	v := *p.(*string)
	if !storage.IsS3URL(v) {
		return checkPath(f, p)
	}
	if _, err := storage.ParseTarget(v); err != nil {
		return []string{err.Error()}
	}
	return nil
}

// checkEndpoint refuses what would put a secret (user info) or a query
// into the state DB and the logs.
func checkEndpoint(_ Field, p any) []string {
	v := *p.(*string)
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return []string{"not an http:// or https:// URL with a host"}
	case u.User != nil:
		return []string{"an endpoint with user info: credentials never go in a URL"}
	case u.RawQuery != "" || u.Fragment != "":
		return []string{"an endpoint with a query or fragment"}
	}
	return nil
}

// Want says what a PUT must send for the field ("true or false", …).
func (f Field) Want() string {
	if f.Type == TypeInt {
		return fmt.Sprintf("an integer from %d to %d", f.Min, f.Max)
	}
	return fieldKinds[f.Type].want
}

// Nullable reports whether JSON null is a value of the field (it clears a
// schedule); for the other fields null is refused.
func (f Field) Nullable() bool { return fieldKinds[f.Type].nullable }

func trimString(p any) { s := p.(*string); *s = strings.TrimSpace(*s) }

func normalizePath(p any) {
	s := p.(*string)
	*s = strings.TrimSpace(*s)
	if *s != "" && filepath.IsAbs(*s) {
		*s = filepath.Clean(*s)
	}
}

// normalizeSchedule collapses white space; an empty schedule is none (nil).
func normalizeSchedule(p any) {
	s := p.(**string)
	if *s == nil {
		return
	}
	if v := strings.Join(strings.Fields(**s), " "); v != "" {
		*s = &v
	} else {
		*s = nil
	}
}

// normalizeServices trims the names and drops empty ones (never nil).
func normalizeServices(p any) {
	l := p.(*[]string)
	out := []string{}
	for _, v := range *l {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	*l = out
}

func checkChoice(f Field, p any) []string {
	v := *p.(*string)
	if slices.Contains(f.Choices, v) {
		return nil
	}
	if len(f.Choices) == 2 {
		return []string{fmt.Sprintf("%q is neither %q nor %q", v, f.Choices[0], f.Choices[1])}
	}
	return []string{fmt.Sprintf("%q is not one of %q", v, f.Choices)}
}

func checkPath(_ Field, p any) []string {
	if v := *p.(*string); v != "" && !filepath.IsAbs(v) {
		return []string{fmt.Sprintf("%q is not an absolute path", v)}
	}
	return nil
}

func checkProject(_ Field, p any) []string {
	if n := *p.(*string); n != "" && ComposeProjectName(n) != n {
		return []string{fmt.Sprintf("%q is not a compose project name (lowercase letters, digits, '_' and '-', starting with a letter or digit; e.g. %q)",
			n, ComposeProjectName(n))}
	}
	return nil
}

func checkSchedule(_ Field, p any) []string {
	if s := *p.(**string); s != nil {
		if _, err := ParseSchedule(*s); err != nil {
			return []string{err.Error()}
		}
	}
	return nil
}

func checkRange(f Field, p any) []string {
	if n := *p.(*int); n < f.Min || n > f.Max {
		return []string{fmt.Sprintf("%d is outside %d..%d", n, f.Min, f.Max)}
	}
	return nil
}

func checkServices(_ Field, p any) []string {
	var problems []string
	seen := map[string]bool{}
	for _, v := range *p.(*[]string) {
		if seen[v] {
			problems = append(problems, fmt.Sprintf("service %q is listed twice", v))
		}
		seen[v] = true
	}
	return problems
}

// normalize trims strings, cleans paths, turns empty schedules into null
// and drops empty service names.
func (s *Settings) normalize() {
	for _, f := range table {
		if n := fieldKinds[f.Type].normalize; n != nil {
			n(f.value(s))
		}
	}
}

// Validate checks every editable setting; the error joins a *Error
// per problem (sorted), and matches ErrInvalidSettings.
func (s Settings) Validate() error {
	var errs []error
	for _, f := range table {
		check := fieldKinds[f.Type].check
		if check == nil {
			continue
		}
		for _, problem := range check(f, f.value(&s)) {
			if f.Note != "" {
				problem += " (" + f.Note + ")"
			}
			errs = append(errs, &Error{Field: f.Name, Problem: problem})
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func init() { checkSettingsTable() }

// checkSettingsTable proves the table consistent with Settings: each entry
// addresses a distinct field whose json tag is its Name and whose Go type
// is its Type's, with a Default of that type; flags and variables are
// unique. A mismatch is a programming error: it panics at start.
func checkSettingsTable() map[string]string {
	var s Settings
	sv := reflect.ValueOf(&s).Elem()
	goNames := map[string]string{}
	seen := map[string]bool{}
	for _, f := range table {
		k, ok := fieldKinds[f.Type]
		p := reflect.ValueOf(f.value(&s))
		if !ok || p.Type().Elem() != k.goType {
			panic(fmt.Sprintf("settings table: %s: type %q does not fit its field of type %s", f.Name, f.Type, p.Type().Elem()))
		}
		if f.Default != nil && reflect.TypeOf(f.Default) != k.goType {
			panic(fmt.Sprintf("settings table: %s: default %#v is not a %s", f.Name, f.Default, k.goType))
		}
		for i := range sv.NumField() {
			if sv.Field(i).Addr().Pointer() == p.Pointer() && sv.Field(i).Type() == k.goType {
				goNames[f.Name] = sv.Type().Field(i).Name
				if tag, _, _ := strings.Cut(sv.Type().Field(i).Tag.Get("json"), ","); tag != f.Name {
					panic(fmt.Sprintf("settings table: %s addresses Settings.%s, whose json name is %q", f.Name, goNames[f.Name], tag))
				}
			}
		}
		if goNames[f.Name] == "" {
			panic(fmt.Sprintf("settings table: %s does not address a field of Settings", f.Name))
		}
		for _, key := range []string{"name " + f.Name, "field " + goNames[f.Name], "flag " + f.Flag, "env " + f.Env} {
			if seen[key] && !strings.HasSuffix(key, " ") {
				panic("settings table: duplicate " + key)
			}
			seen[key] = true
		}
	}
	return goNames
}
