package dockerapi

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procRoot is where the host's processes are seen (a variable for tests).
var procRoot = "/proc"

// killProcessTree sends SIGKILL to the process pid and to every process
// descending from it, after checking that pid runs in the cgroup of the
// container containerID (so a reused PID is never killed). It returns how
// many processes it signalled.
func killProcessTree(pid int, containerID string) (int, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("the engine reports no process id")
	}
	if containerID == "" {
		return 0, fmt.Errorf("the engine reports no container for the process")
	}
	cg, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return 0, fmt.Errorf("process %d is not visible here: %w", pid, err)
	}
	if !strings.Contains(string(cg), containerID) {
		return 0, fmt.Errorf("process %d here is not in the container's cgroup (another PID namespace, or the PID was reused)", pid)
	}
	pids := append([]int{pid}, descendants(pid)...)
	n := 0
	var firstErr error
	for _, p := range pids {
		if err := syscall.Kill(p, syscall.SIGKILL); err == nil {
			n++
		} else if p == pid && err != syscall.ESRCH {
			firstErr = err
		}
	}
	if n == 0 && firstErr != nil {
		return 0, fmt.Errorf("kill process %d: %w", pid, firstErr)
	}
	return n, nil
}

// descendants lists every process whose chain of parents reaches root.
func descendants(root int) []int {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentPID(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{root}
	seen := map[int]bool{root: true}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// parentPID reads a process's parent from /proc/<pid>/stat (the field
// after the parenthesised command name, which may hold spaces).
func parentPID(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}
