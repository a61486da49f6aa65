package i18n

// copyEN holds the messages of dockpack copy in English.
var copyEN = map[string]string{
	"copy.done":    "%[1]s copied to %[2]s: %[3]d files verified on arrival (%[4]d sent, %[5]d already there), %[6]s sent",
	"copy.already": "%[1]s is already complete in %[2]s: its %[3]d files verified",
}

func init() { add(English, copyEN) }
