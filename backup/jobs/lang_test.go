package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

// Job messages follow the configured language; machine codes do not.
func TestJobMessagesInChinese(t *testing.T) {
	m := backuptest.MustManager(t, jobs.Config{Lang: "zh-CN"})
	j, err := m.Start(context.Background(), jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Message == nil || *j.Message != "正在启动" {
		t.Fatalf("start message %v", j.Message)
	}
	var seen []string
	backuptest.Wait(t, 20*time.Second, "job end", func() bool {
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
	if j.Status != jobs.StatusCompleted || j.Message == nil || !strings.HasPrefix(*j.Message, "备份完成：") {
		t.Fatalf("final job %s %v (messages seen %q)", j.Status, j.Message, seen)
	}
	if j.Step == nil || *j.Step != string(progress.StepFinalize) {
		t.Fatalf("step %v: machine values must stay untranslated", j.Step)
	}

	if err := backup.Spec.Validate(backup.Spec{Lang: "fr"}); err == nil || !strings.Contains(err.Error(), `language "fr"`) {
		t.Fatalf("unsupported language accepted: %v", err)
	}
}

func TestRunProgressInChinese(t *testing.T) {
	eng := backuptest.NewEngine()
	spec := backuptest.MustSpec(t, eng)
	spec.Lang = "zh-CN"
	var pl backuptest.ProgressLog
	if _, err := backup.Run(context.Background(), spec, pl.Func); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, p := range pl.All() {
		msgs = append(msgs, p.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"正在检查引擎", "正在快照 SQLite 数据库", "正在导出卷", "正在保存 2 个镜像", "备份包已完成："} {
		if !strings.Contains(all, want) {
			t.Errorf("no message containing %q in:\n%s", want, all)
		}
	}
}
