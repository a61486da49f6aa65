package httpapi

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/dockpack/dockpack/backup/seal"
)

// The seal sentinels map to their HTTP answers here and nowhere else.
func TestClassifySeal(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("recipients: %w", seal.ErrBadRecipient), http.StatusBadRequest, CodeInvalidEncryption},
		{fmt.Errorf("%w: x", seal.ErrInvalidConfig), http.StatusBadRequest, CodeInvalidEncryption},
		{fmt.Errorf("identity file: %w", seal.ErrBadIdentity), http.StatusBadRequest, CodeInvalidEncryption},
		{fmt.Errorf("%w: y", seal.ErrPassphraseAlone), http.StatusBadRequest, CodeInvalidEncryption},
		{fmt.Errorf("%w: set a recipient", seal.ErrPlaintextRefused), http.StatusBadRequest, CodePlaintextRefused},
		{fmt.Errorf("%w: store", seal.ErrNotWired), http.StatusBadRequest, CodePlaintextRefused},
		{fmt.Errorf("%w: give --age-identity", seal.ErrNoIdentity), http.StatusConflict, CodeAgeIdentity},
		{fmt.Errorf("%w: sealed to age1…", seal.ErrWrongIdentity), http.StatusConflict, CodeAgeIdentity},
		{fmt.Errorf("%w: give --age-naming-key", seal.ErrNamingKey), http.StatusBadRequest, CodeNamingKey},
		{fmt.Errorf("%w: x", seal.ErrNamingKeyExists), http.StatusBadRequest, CodeNamingKey},
	} {
		e := classify(tc.err)
		if e.Status != tc.status || e.Code != tc.code || e.Detail != tc.err.Error() {
			t.Errorf("classify(%v) = %d %s %q, want %d %s", tc.err, e.Status, e.Code, e.Detail, tc.status, tc.code)
		}
	}
}
