package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/internal/i18n"
)

// The golden files pin what `dockpack plan` and `dockpack doctor` print in
// each language, from fixed plans and reports (no engine, no mount).

// goldenCheck is a check as the prechecks would report it in lang.
func goldenCheck(lang, name string, s check.Status, code, summaryKey string, args ...any) check.Check {
	c := check.Check{Name: name, Title: i18n.T(lang, "check.title."+name), Status: s, Code: code, Summary: i18n.T(lang, summaryKey, args...)}
	if s == check.Warn || s == check.Fail {
		c.Fix = i18n.T(lang, summaryKey+".fix")
	}
	return c
}

// goldenPlan is the plan of the demo stack: a database, a volume of unknown
// size, a tagged and an untagged image, on a graph-driver engine.
func goldenPlan(lang string) *backup.PackPlan {
	p := opPlan()
	p.Checks = []check.Check{
		goldenCheck(lang, "engine", check.OK, "ok", "precheck.engine.ok", "20.10.24", "1.41", "graphdriver"),
		goldenCheck(lang, "sqlite", check.OK, "ok", "precheck.sqlite.size", "/srv/data/auth.db", "1MiB"),
		goldenCheck(lang, "stack", check.Warn, "anonymous_volumes", "precheck.stack.anonymous", 1),
		goldenCheck(lang, "target", check.OK, "ok", "precheck.target.ok_unprobed", "/mnt/replica/packs", "/mnt/replica", "cifs", "600GiB"),
		goldenCheck(lang, "staging", check.OK, "ok", "precheck.staging.ok_unprobed", "/tmp", "10GiB"),
		goldenCheck(lang, "data-root", check.OK, "ok", "precheck.data_root.ok", "/var/lib/docker", "40GiB"),
	}
	return p
}

// goldenRefusedPlan is goldenPlan on a share too small for it.
func goldenRefusedPlan(lang string) *backup.PackPlan {
	p := goldenPlan(lang)
	p.TargetReport.FreeBytes = 5 << 20
	target := goldenCheck(lang, "target", check.Fail, "insufficient_space", "precheck.target.insufficient_space", "/mnt/replica/packs", "cifs", "/mnt/replica")
	target.Detail = "insufficient free space: /mnt/replica/packs has 5MiB free on /mnt/replica, need 12.1MiB"
	p.Checks[3] = target
	return p
}

func TestPlanGolden(t *testing.T) {
	for _, lang := range i18n.Supported() {
		var run, refused bytes.Buffer
		printPlan(&run, i18n.For(lang), goldenPlan(lang), nil, "/srv/data/auth.db")
		golden(t, "plan_"+lang+".golden", run.Bytes())
		printPlan(&refused, i18n.For(lang), goldenRefusedPlan(lang), backup.ErrPrecheck, "/srv/data/auth.db")
		golden(t, "plan_refused_"+lang+".golden", refused.Bytes())
	}
}

// goldenReport is a doctor report with a check of each status.
func goldenReport(lang string) *doctor.Report {
	ev := func(key, value string) check.Evidence {
		return check.Evidence{Key: key, Label: i18n.T(lang, "check.ev."+key), Value: value}
	}
	target := goldenCheck(lang, "target", check.Fail, "target_wrong_fstype", "precheck.target.target_wrong_fstype", "/mnt/replica/packs", "ext4", "/")
	target.Evidence = []check.Evidence{ev("path", "/mnt/replica/packs"), ev("policy", "fstype cifs|smb3, not on the root filesystem"),
		ev("mount_point", "/"), ev("fstype", "ext4"), ev("free", "80GiB / 100GiB")}
	target.Detail = "wrong filesystem type: /mnt/replica/packs is on ext4 (mount point /), want cifs or smb3"
	lock := goldenCheck(lang, "lock", check.Warn, "lock_stale", "doctor.lock.stale", 9, "nas", 4242)
	lock.Evidence = []check.Evidence{ev("job_id", "9"), ev("holder", "host nas pid 4242 (owner abcd1234…)"), ev("stale_reason", "owner process not running")}
	stack := goldenCheck(lang, "stack", check.OK, "ok", "precheck.stack.ok", "demo", 2, 1, 2, 1, "12.1MiB")
	stack.Evidence = []check.Evidence{ev("container", "demo_app_1  service=app  running  image=demo/app:1"), ev("estimate", "12.1MiB (db 1MiB, volumes 0B, images 11MiB)")}
	const recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	encryption := goldenCheck(lang, "encryption", check.Warn, "identity_missing", "doctor.seal.no_identity", 2, recipient)
	encryption.Fix = i18n.T(lang, "doctor.seal.identity.fix")
	encryption.Evidence = []check.Evidence{ev("sealed_packs", "2"), ev("plaintext_packs", "0"), ev("pack_recipients", recipient)}
	checks := []check.Check{
		target,
		goldenCheck(lang, "root-fs", check.OK, "ok", "doctor.root_fs.ok", "41GiB"),
		goldenCheck(lang, "staging", check.OK, "ok", "precheck.staging.ok", "/tmp", "41GiB"),
		goldenCheck(lang, "sqlite", check.Skip, "skipped", "precheck.sqlite.skip"),
		goldenCheck(lang, "engine", check.OK, "ok", "precheck.engine.ok", "20.10.24", "1.41", "graphdriver"),
		goldenCheck(lang, "data-root", check.OK, "ok", "precheck.data_root.ok", "/var/lib/docker", "41GiB"),
		stack, lock,
		goldenCheck(lang, "jobs", check.OK, "ok", "doctor.jobs.none"),
		goldenCheck(lang, "packs", check.Skip, "skipped", "precheck.target.skip"),
		encryption,
	}
	return &doctor.Report{Verdict: check.Fail, Lang: lang, Host: "nas", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Checks: checks}
}

func TestDoctorGolden(t *testing.T) {
	for _, lang := range i18n.Supported() {
		for _, brief := range []bool{false, true} {
			rep := goldenReport(lang)
			var b bytes.Buffer
			printDoctor(&b, rep, brief)
			// The header shows the time in the local zone: pin it.
			out := strings.Replace(b.String(), rep.At.Local().Format("2006-01-02 15:04:05 MST"), "2026-01-02 03:04:05 UTC", 1)
			name := "doctor_" + lang + ".golden"
			if brief {
				name = "doctor_brief_" + lang + ".golden"
			}
			golden(t, name, []byte(out))
		}
	}
}
