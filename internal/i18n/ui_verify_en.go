package i18n

// uiVerifyEN holds the messages of a pack verification run by the daemon
// (the admin page's "verify"; jobs.Manager.StartVerify) in English.
var uiVerifyEN = map[string]string{
	"verifyjob.started":          "verifying pack %s",
	"verifyjob.item":             "checking %s",
	"verifyjob.passed":           "pack %s passed verification (%d checks)",
	"verifyjob.failed":           "pack %s failed verification: %d checks did not pass",
	"verifyjob.error":            "the verification of pack %s stopped before a verdict: %s",
	"verifyjob.canceled":         "the verification of pack %s was canceled: %s",
	"verifyjob.cancel_requested": "cancel requested: %s",
}

func init() { add(English, uiVerifyEN) }
