package jobs

import (
	"encoding/json"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
)

// Encryption says whether a completed backup's pack is sealed at rest and
// to which recipients (docs/encryption.md). The native job JSON serves it
// as "encryption"; it is absent for jobs that did not complete and for
// jobs that ended before the state DB recorded it (schema 6).
type Encryption struct {
	Encrypted bool `json:"encrypted"`
	// Scheme is the manifest's ("age") when Encrypted.
	Scheme string `json:"scheme,omitempty"`
	// Recipients are the public keys the pack is sealed to (never a
	// secret; seal.PassphraseRecipient for a passphrase).
	Recipients []string `json:"recipients,omitempty"`
}

// encryptionOf is what a completed backup's manifest says.
func encryptionOf(res *backup.Result) *Encryption {
	if res == nil || res.Manifest == nil {
		return nil
	}
	return encryptionOfEntry(res.Manifest.Encryption)
}

func encryptionOfEntry(e *pack.EncryptionEntry) *Encryption {
	if e == nil {
		return &Encryption{}
	}
	return &Encryption{Encrypted: true, Scheme: e.Scheme, Recipients: append([]string(nil), e.Recipients...)}
}

// encryptionJSON is it as stored in the job's row (nil: nothing to store).
func encryptionJSON(e *Encryption) *string {
	if e == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil
	}
	return ptr(string(b))
}

// encryptionFrom reads it back (nil when absent or unreadable).
func encryptionFrom(s *string) *Encryption {
	if s == nil || *s == "" {
		return nil
	}
	var e Encryption
	if json.Unmarshal([]byte(*s), &e) != nil {
		return nil
	}
	return &e
}
