package owner

import (
	"os"
	"strconv"
)

// Labels and names that carry an owner's identity on what it creates.
const (
	LabelToken = "dockpack.owner"
	LabelHost  = "dockpack.owner.host"
	LabelPID   = "dockpack.owner.pid"
	LabelStart = "dockpack.owner.start"
	// TagLen is how many hex digits of the token a name carries.
	TagLen = 12
)

// Self is the identity of this process with token (a NewToken when empty).
func Self(token string) Identity {
	if token == "" {
		token = NewToken()
	}
	host, _ := os.Hostname()
	pid := os.Getpid()
	return Identity{Token: token, Host: host, PID: pid, ProcStart: ProcStartOf(pid)}
}

// Tag is the part of the token a file or directory name carries.
func (o Identity) Tag() string {
	if len(o.Token) > TagLen {
		return o.Token[:TagLen]
	}
	return o.Token
}

// Labels are the owner's identity as container or image labels.
func (o Identity) Labels() map[string]string {
	return map[string]string{LabelToken: o.Token, LabelHost: o.Host, LabelPID: strconv.Itoa(o.PID), LabelStart: o.ProcStart}
}

// FromLabels reads an identity from labels; ok is false when they carry none.
func FromLabels(labels map[string]string) (id Identity, ok bool) {
	if labels[LabelToken] == "" {
		return Identity{}, false
	}
	pid, _ := strconv.Atoi(labels[LabelPID])
	return Identity{Token: labels[LabelToken], Host: labels[LabelHost], PID: pid, ProcStart: labels[LabelStart]}, true
}

// Dead reports whether the owner is provably dead: on this host (host is
// this host's name) with its pid gone or reused. An owner on another host,
// or one whose record cannot be compared, is never judged dead here (its
// debris waits for its own host, or for an age limit).
func (o Identity) Dead(host string) bool {
	return o.Host != "" && o.Host == host && !ProcAlive(o.PID, o.ProcStart)
}
