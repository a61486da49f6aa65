package seal_test

import (
	"errors"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup/seal"
)

// FuzzParseRecipients: the recipients-file parser never panics; what it
// accepts are valid X25519 recipients in canonical form, one per
// non-comment line; what it refuses is ErrBadRecipient.
func FuzzParseRecipients(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	r := id.Recipient().String()
	for _, s := range []string{
		"", "\n", "# c\n" + r + "\n", r, "  " + r + "\r\n# x\n\n" + r, id.String(),
		"ssh-ed25519 AAAA", "age1", "age1pq1qqq", strings.Repeat("#", 70000), r + " " + r, "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := seal.ParseRecipients(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, seal.ErrBadRecipient) {
				t.Fatalf("error %v is not ErrBadRecipient", err)
			}
			if got != nil {
				t.Fatal("recipients returned with an error")
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no error and no recipient")
		}
		lines := 0
		for _, l := range strings.Split(in, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines++
			}
		}
		if len(got) != lines {
			t.Fatalf("%d recipients from %d recipient lines", len(got), lines)
		}
		for _, g := range got {
			p, err := age.ParseX25519Recipient(g)
			if err != nil || p.String() != g {
				t.Fatalf("accepted %q, which does not re-parse to itself (%v)", g, err)
			}
		}
	})
}
