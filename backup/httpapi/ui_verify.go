package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/dockpack/dockpack/backup/verifier"
	"github.com/dockpack/dockpack/internal/i18n"
)

// verifyBody is the optional body of POST /v1/packs/{name}/verify.
type verifyBody struct {
	Lang string `json:"lang"`
}

func (h *handler) startVerify(w http.ResponseWriter, r *http.Request) {
	var body verifyBody
	if err := h.decodeObject(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	lang, ok := i18n.Normalize(body.Lang)
	if body.Lang == "" {
		lang = ""
	} else if !ok {
		h.fail(w, r, reqErr(http.StatusBadRequest, CodeInvalidLang, "lang "+truncate(body.Lang, 40)+" is not a supported language (en or zh-CN)"))
		return
	}
	v, err := h.opts.Verifier.Start(r.Context(), verifier.Request{Pack: r.PathValue("name"), Lang: lang})
	if err != nil {
		h.uiFail(w, r, err)
		return
	}
	// Relative to /v1/packs/{name}/verify, so it stays right under any mount prefix.
	w.Header().Set("Location", "../../verifications/"+v.ID)
	writeJSON(w, http.StatusAccepted, v)
}

var verificationIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// verificationID validates the {id} path value.
func verificationID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !verificationIDRE.MatchString(id) {
		return "", reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("verification id %q is malformed", truncate(id, 40)))
	}
	return id, nil
}

func (h *handler) listVerifications(w http.ResponseWriter, r *http.Request) {
	list, err := h.opts.Verifier.List(r.Context())
	if err != nil {
		h.uiFail(w, r, err)
		return
	}
	if list == nil {
		list = []verifier.Verification{}
	}
	writeJSON(w, http.StatusOK, map[string][]verifier.Verification{"verifications": list})
}

func (h *handler) getVerification(w http.ResponseWriter, r *http.Request) {
	id, err := verificationID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.opts.Verifier.Get(r.Context(), id)
	if err != nil {
		h.uiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) cancelVerification(w http.ResponseWriter, r *http.Request) {
	id, err := verificationID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reason, err := h.cancelReason(w, r, DefaultCancelReason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.opts.Verifier.Cancel(r.Context(), id, reason)
	if err != nil {
		h.uiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// verificationEvents streams a verification as Server-Sent Events: its
// state at once and at every change as "event: progress", the ended one as
// "event: final" (then the stream ends), "data: <verification JSON>"
// without the log (GET the verification for it); keep-alive comments every
// Options.SSEKeepAlive.
func (h *handler) verificationEvents(w http.ResponseWriter, r *http.Request) {
	id, err := verificationID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch, err := h.opts.Verifier.Watch(ctx, id)
	if err != nil {
		h.uiFail(w, r, err)
		return
	}
	stream(ctx, w, h.opts.SSEKeepAlive, "verification "+id, ch, func(v verifier.Verification) (string, []byte, bool, error) {
		name := "progress"
		if !v.Status.Active() {
			name = eventFinal
		}
		v.Log = nil
		data, err := json.Marshal(v)
		return name, data, name == eventFinal, err
	})
}
