package restore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff })
}

// The plan speaks Spec.Lang; its actions and reason codes do not change with it.
func TestRestorePlanSpeaksTheLanguage(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	plans := map[string]*restore.Plan{}
	for _, lang := range i18n.Supported() {
		eng := newRsEngine(p)
		eng.Existing("demo_data", []byte("old data"))
		eng.Existing("shared", nil, dockerapi.VolumeUser{ContainerID: "c1", ContainerName: "demo_app_1", Running: true})
		spec := restore.Spec{Engine: eng, Project: "demo2", Lang: lang, PlanOnly: true}
		res, err := restore.Run(context.Background(), p.Dir, spec)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		plans[lang] = res.Plan
		spec.PlanOnly = false
		_, err = restore.Run(context.Background(), p.Dir, spec)
		var re *restore.RefusedError
		if !errors.As(err, &re) || (lang == i18n.Chinese) != hasHan(err.Error()) || !strings.Contains(err.Error(), "--stop-running") {
			t.Errorf("%s: refusal %v", lang, err)
		}
	}
	en, zh := plans[i18n.English], plans[i18n.Chinese]
	if len(en.Notes) != len(zh.Notes) || len(en.Problems) != 1 || len(zh.Problems) != 1 || !hasHan(zh.Problems[0]) || hasHan(en.Problems[0]) {
		t.Fatalf("notes %q / %q, problems %q / %q", en.Notes, zh.Notes, en.Problems, zh.Problems)
	}
	for _, n := range zh.Notes {
		if !hasHan(n) {
			t.Errorf("note %q is not translated", n)
		}
	}
	for i := range en.Volumes {
		e, z := en.Volumes[i], zh.Volumes[i]
		if e.Action != z.Action || e.ReasonCode != z.ReasonCode || e.Target != z.Target || (e.Reason != "") != hasHan(z.Reason) {
			t.Errorf("volume %s: %+v / %+v", e.Name, e, z)
		}
	}
	if v := en.Volumes[1]; v.Target != "shared" || v.Action != restore.ActionRefuse || v.ReasonCode != restore.ReasonInUse {
		t.Errorf("shared: %+v", v)
	}
}

func TestRestoreReasonCodes(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	eng.Existing("demo_data", []byte("old data"))
	eng.Existing("shared", nil)
	spec := MustRsSpec(t, eng)
	spec.PlanOnly = true
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Plan.Volumes; v[0].ReasonCode != restore.ReasonHoldsData || v[1].ReasonCode != restore.ReasonEmpty || v[1].Action != restore.ActionReplace {
		t.Fatalf("volumes %+v", v)
	}
	spec.Force = true
	if res, _ = restore.Run(context.Background(), p.Dir, spec); res.Plan.Volumes[0].ReasonCode != restore.ReasonForced || res.Plan.SQLite.ReasonCode != "" {
		t.Fatalf("forced: %+v %+v", res.Plan.Volumes[0], res.Plan.SQLite)
	}
}

func TestRestoreProgressInTheLanguage(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	spec := MustRsSpec(t, newRsEngine(p))
	spec.Lang, spec.ProgressInterval = i18n.Chinese, time.Nanosecond
	steps := map[progress.Step]string{}
	spec.Progress = func(r progress.Report) {
		if r.Message != "" {
			steps[r.Step] = r.Message
		}
	}
	if _, err := restore.Run(context.Background(), p.Dir, spec); err != nil {
		t.Fatal(err)
	}
	for _, s := range []progress.Step{progress.StepVerify, progress.StepPrecheck, progress.StepImages, progress.StepVolumes, progress.StepSQLite, progress.StepFinalize} {
		if !hasHan(steps[s]) {
			t.Errorf("step %s: message %q", s, steps[s])
		}
	}
	spec.Lang = "xx"
	if _, err := restore.Run(context.Background(), p.Dir, spec); err == nil {
		t.Error("an unsupported language was accepted")
	}
}
