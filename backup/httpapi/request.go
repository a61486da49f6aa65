package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/jobs"
)

// List limits (RagFlowAuth's contract: 1–200, default 30).
const (
	defaultLimit = 30
	minLimit     = 1
	maxLimit     = 200
	maxReasonLen = 1000
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// readBody reads the whole body within the size limit. An empty body is
// returned as nil.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err // classify: 413
		}
		return nil, reqErr(http.StatusBadRequest, CodeInvalidJSON, "cannot read the request body: "+err.Error())
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	return b, nil
}

// decodeObject decodes a JSON object body into v strictly: unknown fields,
// trailing data and non-object bodies are refused. An empty body leaves v
// as it is (the routes that take a body all have optional fields).
func (h *handler) decodeObject(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := h.readBody(w, r)
	if err != nil || b == nil {
		return err
	}
	return decodeStrict(b, v)
}

// decodeStrict decodes exactly one JSON object from b into v, refusing
// unknown fields.
func decodeStrict(b []byte, v any) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return reqErr(http.StatusBadRequest, CodeInvalidJSON, "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return reqErr(http.StatusBadRequest, CodeInvalidJSON, "the request body holds data after its JSON object")
	}
	return nil
}

// jsonErr turns a decoding error into a 400 that says what was wrong.
func jsonErr(err error) error {
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return reqErr(http.StatusBadRequest, CodeUnknownField, "unknown field "+f+" in the request body")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the body"
		}
		return reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("%s: a JSON %s cannot be a %s", field, te.Value, te.Type))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return reqErr(http.StatusBadRequest, CodeInvalidJSON, "the request body is truncated JSON")
	}
	return reqErr(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid JSON: "+strings.TrimPrefix(msg, "json: "))
}

// parseJobID validates the {id} path value: a positive decimal int64.
func parseJobID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	bad := func() error {
		return reqErr(http.StatusBadRequest, CodeInvalidJobID, fmt.Sprintf("job id %q is not a positive integer", truncate(s, 40)))
	}
	if s == "" || len(s) > 19 || s[0] == '+' || s[0] == '-' {
		return 0, bad()
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, bad()
	}
	return id, nil
}

// parseListOptions reads ?limit= (integer, clamped to 1..200, default 30)
// and, for the native API, ?status= (a job status).
func parseListOptions(r *http.Request, allowStatus bool) (jobs.ListOptions, error) {
	q, err := parseQuery(r)
	if err != nil {
		return jobs.ListOptions{}, err
	}
	o := jobs.ListOptions{Limit: defaultLimit}
	for k, vs := range q {
		switch {
		case k == "limit":
			n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
			if err != nil || len(vs) > 1 {
				return o, reqErr(http.StatusBadRequest, CodeInvalidLimit, fmt.Sprintf("limit %q is not an integer (want 1 to %d)", truncate(vs[0], 40), maxLimit))
			}
			o.Limit = min(max(n, minLimit), maxLimit)
		case k == "status" && allowStatus:
			st := jobs.Status(vs[0])
			switch st {
			case jobs.StatusQueued, jobs.StatusRunning, jobs.StatusCanceling, jobs.StatusCanceled, jobs.StatusCompleted, jobs.StatusFailed:
				o.Status = st
			case "":
			default:
				return o, reqErr(http.StatusBadRequest, CodeInvalidStatus, fmt.Sprintf("status %q is not a job status (want queued, running, canceling, canceled, completed or failed)", truncate(vs[0], 40)))
			}
		}
	}
	return o, nil
}

func parseQuery(r *http.Request) (map[string][]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, reqErr(http.StatusBadRequest, CodeInvalidQuery, "the query string is malformed: "+err.Error())
	}
	return q, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// cancelBody is the optional body of a cancel request.
type cancelBody struct {
	Reason string `json:"reason"`
}

func (h *handler) cancelReason(w http.ResponseWriter, r *http.Request, def string) (string, error) {
	var body cancelBody
	if err := h.decodeObject(w, r, &body); err != nil {
		return "", err
	}
	reason := strings.TrimSpace(body.Reason)
	if len(reason) > maxReasonLen {
		return "", reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("reason is %d bytes long; at most %d are kept", len(reason), maxReasonLen))
	}
	if reason == "" {
		reason = def
	}
	return reason, nil
}

// jobIDField reads the job_id of a drill's or a real restore's body: a
// positive integer (or a string holding one).
func jobIDField(raw json.RawMessage) (int64, error) {
	id, ok := jsonInt(raw)
	if !ok || id <= 0 {
		return 0, reqErr(http.StatusBadRequest, CodeInvalidJobID, fmt.Sprintf("job_id %s is not a job id (a positive integer)", truncate(string(raw), 40)))
	}
	return id, nil
}

// executedAtField reads an optional executed_at_ms (absent or null: nil).
func executedAtField(raw json.RawMessage) (*int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	at, ok := jsonInt(raw)
	if !ok || at < 0 {
		return nil, reqErr(http.StatusBadRequest, CodeInvalidExecutedAt, CodeInvalidExecutedAt+": executed_at_ms is not a time in milliseconds")
	}
	return &at, nil
}

// trimmed is *p without surrounding space ("" for nil).
func trimmed(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}
