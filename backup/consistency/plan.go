package consistency

import (
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
)

// Plan is how a backup makes each service of a stack consistent: its
// hooks and dump, how each named volume is captured, which bind mounts go
// into the pack, and what keeps the pack from being complete.
type Plan struct {
	// ComposeFiles were read into the model; ModelNote says why there is
	// no model (none named, or not readable from here).
	ComposeFiles []string
	ModelNote    string
	Profiles     []string
	Graph        Graph
	Services     []ServicePlan // sorted by name
	Volumes      []VolumePlan  // sorted by name, then service
	Binds        []BindPlan
	// Problems keep the backup from running (Plan, Run and the doctor
	// fail); Warnings are reported.
	Problems, Warnings []Finding
}

// ServicePlan is one service: of the stack (it has containers) or of the
// model's active services.
type ServicePlan struct {
	Name       string
	Config     Config
	Containers []dockerapi.Container // every container of the service
	Running    []dockerapi.Container // those that run (hooks run in each, the dump in the first)
	InModel    bool
	Profiles   []string
	DependsOn  []string
}

// VolumePlan is a named volume a service mounts (Service empty: a volume
// of the project no container mounts).
type VolumePlan struct {
	Name, Key, Service, Destination string
	// Capture is pack.CaptureVolume, CaptureDump or CaptureExcluded.
	Capture string
	Reason  string
	InStack bool // ResolveStack found it (else it would be missed)
}

// Reasons a bind mount is not captured (BindPlan.Code).
const (
	BindCaptured     = "captured"
	BindNotInModel   = "not_in_model"  // not a bind of the compose model (or no model)
	BindTooLarge     = "too_large"     // over the size bound
	BindUnreadable   = "unreadable"    // not readable from where dockpack runs
	BindSpecial      = "special"       // a socket or device: not data
	BindDatabase     = "database"      // holds the SQLite database, which is the db component
	BindNotSelected  = "not_selected"  // the volumes component is not selected
	DefaultBindLimit = int64(64 << 20) // default size bound of a captured bind mount
	bindNameMax      = 80
)

// BindPlan is one bind mount of a service.
type BindPlan struct {
	Service, Container, Source, Destination string
	ReadOnly                                bool
	Code                                    string // BindCaptured or why not
	Type                                    string // pack.BindFile or pack.BindDir (measured)
	Size                                    int64  // bytes of file content; -1 unknown
	Detail                                  string // what measuring found (an error)
	File                                    string // its tar in the pack, when captured
}

// Captured reports whether the bind goes into the pack.
func (b BindPlan) Captured() bool { return b.Code == BindCaptured }

// Finding is a problem or warning: a stable code, what it is about, and detail.
type Finding struct {
	Code    string
	Subject string
	Detail  string
}

// Codes of Findings.
const (
	CodeLabelInvalid   = "label_invalid"    // a label's value cannot be used
	CodeDumpNotRunning = "dump_not_running" // a service with a dump has no running container
	CodeVolumeMissed   = "volume_missed"    // a named volume of the model would not be in the pack
	CodeVolumeAbsent   = "volume_absent"    // (warning) a named volume of the model does not exist on the engine and is excluded
	CodeBindUncaptured = "bind_uncaptured"  // (strict) a bind mount is not in the pack
	CodeAnonymous      = "anonymous"        // (strict) an anonymous volume is not in the pack
	CodeHookNotRunning = "hook_not_running" // (warning) a service with hooks has no running container
	CodeModelUnread    = "model_unreadable" // (warning) the compose files could not be read
)

// Input is what Build works from.
type Input struct {
	Stack dockerapi.Stack
	// Model is the compose model (nil: ModelNote says why).
	Model     *Model
	ModelNote string
	// VolumesSelected: the volumes component is in the backup.
	VolumesSelected bool
	SQLitePath      string
	BindLimit       int64 // default DefaultBindLimit
	Strict          bool
	// VolumeExists says whether the engine has a volume (nil: unknown).
	VolumeExists func(name string) bool
	// Measure sizes a bind mount's source (nil: MeasureBind).
	Measure func(path string, limit int64) Measured
}

// Build makes the plan of a stack. It reads bind mounts' sources (Measure)
// and nothing else.
func Build(in Input) *Plan {
	if in.BindLimit <= 0 {
		in.BindLimit = DefaultBindLimit
	}
	if in.Measure == nil {
		in.Measure = MeasureBind
	}
	p := &Plan{Graph: Graph{}, ModelNote: in.ModelNote, Profiles: []string{}}
	if in.Model != nil {
		p.ComposeFiles = slices.Clone(in.Model.Files)
		p.Graph = in.Model.Graph()
	}
	b := &builder{in: in, p: p, svc: map[string]*ServicePlan{}}
	b.services()
	b.volumes()
	b.binds()
	b.strict()
	return p
}

type builder struct {
	in  Input
	p   *Plan
	svc map[string]*ServicePlan
}

func (b *builder) problem(code, subject, detail string) {
	b.p.Problems = append(b.p.Problems, Finding{Code: code, Subject: subject, Detail: detail})
}

func (b *builder) warn(code, subject, detail string) {
	b.p.Warnings = append(b.p.Warnings, Finding{Code: code, Subject: subject, Detail: detail})
}

// services gathers the stack's services and the model's active ones, with
// their labels (a container's, else the model's) and dependencies.
func (b *builder) services() {
	st, m := b.in.Stack, b.in.Model
	var withContainers []string
	for _, ct := range st.Containers {
		if ct.Service == "" {
			continue
		}
		sp := b.service(ct.Service)
		sp.Containers = append(sp.Containers, ct)
		if ct.Running {
			sp.Running = append(sp.Running, ct)
		}
		if !slices.Contains(withContainers, ct.Service) {
			withContainers = append(withContainers, ct.Service)
		}
		if deps := ParseDependsOnLabel(ct.Labels[LabelDependsOn]); len(deps) > 0 && len(b.p.Graph[ct.Service]) == 0 {
			b.p.Graph[ct.Service] = deps
		}
	}
	if m != nil {
		active, profiles := m.ActiveServices(withContainers)
		b.p.Profiles = profiles
		for _, name := range active {
			sp := b.service(name)
			ms := m.Services[name]
			sp.InModel, sp.Profiles = true, slices.Clone(ms.Profiles)
		}
	}
	names := make([]string, 0, len(b.svc))
	for name := range b.svc {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sp := b.svc[name]
		sp.DependsOn = slices.Clone(b.p.Graph[name])
		labels := map[string]string{}
		if len(sp.Containers) > 0 {
			labels = sp.Containers[0].Labels
		} else if m != nil {
			labels = m.Services[name].Labels
		}
		cfg, err := Parse(name, labels)
		if err != nil {
			b.problem(CodeLabelInvalid, name, err.Error())
		}
		sp.Config = cfg
		switch {
		case cfg.HasDump() && len(sp.Running) == 0:
			b.problem(CodeDumpNotRunning, name, "")
		case cfg.HasHooks() && len(sp.Running) == 0:
			b.warn(CodeHookNotRunning, name, "")
		}
		b.p.Services = append(b.p.Services, *sp)
	}
	for i := range b.p.Services {
		b.svc[b.p.Services[i].Name] = &b.p.Services[i]
	}
}

func (b *builder) service(name string) *ServicePlan {
	sp, ok := b.svc[name]
	if !ok {
		sp = &ServicePlan{Name: name}
		b.svc[name] = sp
	}
	return sp
}

// volumes decides how each named volume is captured and finds those of the
// model the stack does not have.
func (b *builder) volumes() {
	st := b.in.Stack
	inStack := map[string]bool{}
	for _, v := range st.Volumes {
		inStack[v.Name] = true
	}
	seen := map[string]bool{}
	add := func(vp VolumePlan) {
		k := vp.Name + "\x00" + vp.Service
		if seen[k] {
			return
		}
		seen[k] = true
		b.p.Volumes = append(b.p.Volumes, vp)
	}
	for _, ct := range st.Containers {
		for _, mt := range ct.Mounts {
			if mt.Type == "volume" && inStack[mt.Name] {
				add(VolumePlan{Name: mt.Name, Service: ct.Service, Destination: mt.Destination, InStack: true})
			}
		}
	}
	if m := b.in.Model; m != nil {
		for _, sp := range b.p.Services {
			if !sp.InModel {
				continue
			}
			for _, mv := range m.Services[sp.Name].Volumes {
				add(VolumePlan{Name: mv.Name, Key: mv.Key, Service: sp.Name, Destination: mv.Target, InStack: inStack[mv.Name]})
			}
		}
	}
	for _, v := range st.Volumes {
		add(VolumePlan{Name: v.Name, InStack: true}) // kept only when no service mounts it
	}
	b.p.Volumes = slices.DeleteFunc(b.p.Volumes, func(vp VolumePlan) bool {
		return vp.Service == "" && slices.ContainsFunc(b.p.Volumes, func(o VolumePlan) bool { return o.Name == vp.Name && o.Service != "" })
	})
	for i := range b.p.Volumes {
		b.capture(&b.p.Volumes[i])
	}
	sort.SliceStable(b.p.Volumes, func(i, j int) bool {
		a, c := b.p.Volumes[i], b.p.Volumes[j]
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		return a.Service < c.Service
	})
}

// capture decides one volume: excluded when the volumes component is not
// selected, or when every service mounting it excludes its volumes (then
// covered by a dump when one of them dumps); else exported. A volume of
// the model that the stack lacks is a problem unless excluded.
func (b *builder) capture(vp *VolumePlan) {
	vp.Capture = pack.CaptureVolume
	users := b.usersOf(vp.Name)
	excluded := len(users) > 0
	var dumper *ServicePlan
	for _, u := range users {
		if !u.Config.ExcludeVolumes {
			excluded = false
		}
		if u.Config.HasDump() && dumper == nil {
			dumper = u
		}
	}
	switch {
	case !b.in.VolumesSelected:
		vp.Capture, vp.Reason = pack.CaptureExcluded, "the volumes component is not selected"
	case excluded && dumper != nil:
		vp.Capture, vp.Reason = pack.CaptureDump, dumper.Config.ExcludeReason
	case excluded:
		vp.Capture, vp.Reason = pack.CaptureExcluded, users[0].Config.ExcludeReason
	}
	if vp.InStack {
		return
	}
	if vp.Capture != pack.CaptureVolume {
		if b.in.VolumeExists != nil && !b.in.VolumeExists(vp.Name) {
			b.warn(CodeVolumeAbsent, vp.Name, vp.Service)
		}
		return
	}
	why := "no container of the project mounts it and it does not carry the project's label (external, or created by hand)"
	if b.in.VolumeExists != nil && !b.in.VolumeExists(vp.Name) {
		why = "it does not exist on the engine (the service was never started, or the volume was removed or renamed)"
	}
	b.problem(CodeVolumeMissed, vp.Name, "service "+vp.Service+": "+why)
}

// usersOf lists the services (with a plan) that mount the volume.
func (b *builder) usersOf(volume string) []*ServicePlan {
	var out []*ServicePlan
	for _, vp := range b.p.Volumes {
		if vp.Name != volume || vp.Service == "" {
			continue
		}
		if sp, ok := b.svc[vp.Service]; ok && !slices.Contains(out, sp) {
			out = append(out, sp)
		}
	}
	return out
}

// Volume returns the plan of a volume (the first service's).
func (p *Plan) Volume(name string) (VolumePlan, bool) {
	for _, v := range p.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return VolumePlan{}, false
}

// Exported reports whether the volume is exported (not excluded nor covered by a dump).
func (p *Plan) Exported(name string) bool {
	v, ok := p.Volume(name)
	return !ok || v.Capture == pack.CaptureVolume
}

// Service returns the plan of a service.
func (p *Plan) Service(name string) (ServicePlan, bool) {
	for _, s := range p.Services {
		if s.Name == name {
			return s, true
		}
	}
	return ServicePlan{}, false
}

// strict turns every mount the pack leaves out into a problem.
func (b *builder) strict() {
	if !b.in.Strict {
		return
	}
	for _, bp := range b.p.Binds {
		switch bp.Code {
		case BindNotInModel, BindTooLarge, BindUnreadable, BindNotSelected:
			b.problem(CodeBindUncaptured, bp.Source, bp.Container+":"+bp.Destination+" ("+bp.Code+")")
		}
	}
	for _, s := range b.in.Stack.Skipped {
		if s.Kind == "anonymous" {
			b.problem(CodeAnonymous, s.Container+":"+s.Destination, s.Source)
		}
	}
}

// bindFileName is a bind's tar in the pack: binds/<service>/<destination
// with / as _>.tar, made unique by a number.
func bindFileName(service, dest string, used map[string]bool) string {
	name := strings.Trim(strings.ReplaceAll(filepath.ToSlash(filepath.Clean(dest)), "/", "_"), "_")
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	if name == "" {
		name = "root"
	}
	if len(name) > bindNameMax {
		name = name[:bindNameMax]
	}
	base := pack.BindsDir + "/" + service + "/" + name
	p := base + ".tar"
	for i := 2; used[p]; i++ {
		p = base + "-" + strconv.Itoa(i) + ".tar"
	}
	used[p] = true
	return p
}

// Counts sums up the plan: services with hooks and with dumps, volumes
// exported, covered by a dump and excluded, binds captured.
func (p *Plan) Counts() (hooks, dumps, exported, byDump, excluded, binds int) {
	for _, s := range p.Services {
		if s.Config.HasHooks() {
			hooks++
		}
		if s.Config.HasDump() {
			dumps++
		}
	}
	seen := map[string]bool{}
	for _, v := range p.Volumes {
		if seen[v.Name] {
			continue
		}
		seen[v.Name] = true
		switch v.Capture {
		case pack.CaptureVolume:
			exported++
		case pack.CaptureDump:
			byDump++
		default:
			excluded++
		}
	}
	for _, b := range p.Binds {
		if b.Captured() {
			binds++
		}
	}
	return
}

// String says what the finding means, in English (errors and logs).
func (f Finding) String() string {
	switch f.Code {
	case CodeVolumeMissed:
		return "the named volume " + f.Subject + " of the compose model would not be in the pack (" + f.Detail +
			"); start the service, or exclude its volumes with the label dockpack.volumes=exclude (and a dump, or dockpack.exclude-reason)"
	case CodeVolumeAbsent:
		return "the named volume " + f.Subject + " of the compose model (service " + f.Detail + ") does not exist on the engine; it is excluded"
	case CodeDumpNotRunning:
		return "service " + f.Subject + " has a dump (dockpack.dump) but no running container to run it in"
	case CodeHookNotRunning:
		return "service " + f.Subject + " has hooks but no running container: they are skipped"
	case CodeBindUncaptured:
		return "the bind mount " + f.Subject + " (" + f.Detail + ") would not be in the pack (strict)"
	case CodeAnonymous:
		return "the anonymous volume at " + f.Subject + " would not be in the pack (strict)"
	case CodeLabelInvalid:
		return f.Detail
	}
	if f.Detail == "" {
		return f.Code + " " + f.Subject
	}
	return f.Code + " " + f.Subject + ": " + f.Detail
}
