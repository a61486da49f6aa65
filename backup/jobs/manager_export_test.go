package jobs

// Seams for the black-box tests in package backup_test.

// FireSchedule runs one firing of the named schedule ("incremental" or
// "full") now, as cron would.
func FireSchedule(m *Manager, kind string) {
	if m.sched != nil {
		m.sched.fire(kind)
	}
}
