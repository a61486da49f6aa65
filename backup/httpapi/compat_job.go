package httpapi

import (
	"net/http"

	"github.com/dockpack/dockpack/backup/jobs"
)

// compatJob is a job as RagFlowAuth's page reads it: the job's fields plus
// RagFlowAuth's replication fields, which dockpack does not have (always
// null), and progress 100 once the job has ended, whatever its status (the
// page draws its bar from progress, and RagFlowAuth sets 100 at every end).
// The domain job (jobs.Job) keeps the true progress and bytes_done.
type compatJob struct {
	jobs.Job
	ReplicationStatus *string `json:"replication_status"`
	ReplicationError  *string `json:"replication_error"`
	ReplicaPath       *string `json:"replica_path"`
}

// jobJSON is a job as the route's client reads it.
func (h *handler) jobJSON(r *http.Request, j jobs.Job) any {
	if h.isCompat(r) {
		if !j.Status.Active() {
			j.Progress = 100
		}
		return compatJob{Job: j}
	}
	return j
}

// jobsJSON is a list of jobs as the route's client reads it.
func (h *handler) jobsJSON(r *http.Request, list []jobs.Job) []any {
	out := make([]any, len(list))
	for i, j := range list {
		out[i] = h.jobJSON(r, j)
	}
	return out
}
