package backup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
)

// Job messages follow the configured language; machine codes do not.
func TestJobMessagesInChinese(t *testing.T) {
	m := MustManager(t, backup.ManagerConfig{Lang: "zh-CN"})
	j, err := m.Start(context.Background(), backup.JobRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Message == nil || *j.Message != "正在启动" {
		t.Fatalf("start message %v", j.Message)
	}
	var seen []string
	mgrWait(t, 20*time.Second, "job end", func() bool {
		got, err := m.Get(context.Background(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message != nil {
			seen = append(seen, *got.Message)
		}
		j = got
		return !got.Status.Active()
	})
	if j.Status != backup.JobCompleted || j.Message == nil || !strings.HasPrefix(*j.Message, "备份完成：") {
		t.Fatalf("final job %s %v (messages seen %q)", j.Status, j.Message, seen)
	}
	if j.Step == nil || *j.Step != string(backup.StepFinalize) {
		t.Fatalf("step %v: machine values must stay untranslated", j.Step)
	}

	if err := backup.Spec.Validate(backup.Spec{Lang: "fr"}); err == nil || !strings.Contains(err.Error(), `language "fr"`) {
		t.Fatalf("unsupported language accepted: %v", err)
	}
}

func TestRunProgressInChinese(t *testing.T) {
	eng := newFakeEngine()
	spec := MustSpec(t, eng)
	spec.Lang = "zh-CN"
	var pl progressLog
	if _, err := backup.Run(context.Background(), spec, pl.fn); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, p := range pl.all {
		msgs = append(msgs, p.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"正在检查引擎", "正在快照 SQLite 数据库", "正在导出卷", "正在保存 2 个镜像", "备份包已完成："} {
		if !strings.Contains(all, want) {
			t.Errorf("no message containing %q in:\n%s", want, all)
		}
	}
}
