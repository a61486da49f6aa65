package restore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/nonnil"
)

// targetVolume maps a pack volume to its name and labels under the plan's
// project (noting a volume that keeps its name).
func (pl *planner) targetVolume(v pack.VolumeEntry) (name string, labels map[string]string) {
	packProject, project := pl.m.Project, pl.p.Project
	labels = maps.Clone(v.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if project == packProject {
		return v.Name, labels
	}
	if v.External || labels[dockerapi.LabelProject] != packProject {
		pl.note("restore.note.external_volume", v.Name)
		return v.Name, labels
	}
	labels[dockerapi.LabelProject] = project
	delete(labels, LabelComposeConfigHash)
	key := labels[dockerapi.LabelVolume]
	legacy := strings.NewReplacer("_", "", "-", "").Replace(packProject)
	if key != "" && (v.Name == strings.TrimLeft(packProject, "-_")+"_"+key || v.Name == legacy+"_"+key) {
		return strings.TrimLeft(project, "-_") + "_" + key, labels
	}
	pl.note("restore.note.custom_name", v.Name, project)
	return v.Name, labels
}

// reason sets a volume's action and why (code, and text in the plan's language).
func (pl *planner) reason(vp *VolumePlan, action, code string, a ...any) {
	vp.Action, vp.ReasonCode, vp.Reason = action, code, pl.t.T("restore.reason."+code, a...)
}

// volumes plans each volume of the pack: created when missing, else see existing.
func (pl *planner) volumes(ctx context.Context) error {
	m, p := pl.m, pl.p
	// An image of the pack already on the engine serves VolumeEmpty's helper.
	helper := ""
	if len(p.present) > 0 {
		helper = p.present[0].ConfigDigest
	}
	targets := map[string]string{}
	stopSeen := map[string]bool{}
	for _, v := range m.Volumes {
		fe, _ := m.File(v.File)
		name, labels := pl.targetVolume(v)
		vp := VolumePlan{Name: v.Name, Target: name, File: v.File, Size: v.Size, Driver: v.Driver, Options: nonnil.Map(v.Options), Labels: labels,
			Action: ActionCreate}
		if other, dup := targets[name]; dup {
			pl.problem("restore.problem.duplicate", other, v.Name, name)
			pl.reason(&vp, ActionRefuse, ReasonDuplicate)
			p.Volumes = append(p.Volumes, vp)
			continue
		}
		targets[name] = v.Name
		if err := (dockerapi.VolumeSpec{Name: name}).Validate(); err != nil {
			return fmt.Errorf("%w: restore: %w", backup.ErrInvalidSpec, err)
		}
		cur, err := pl.spec.Engine.InspectVolume(ctx, name)
		switch {
		case errors.Is(err, dockerapi.ErrVolumeNotFound):
			p.Volumes = append(p.Volumes, vp)
			p.Bytes += fe.Size
			continue
		case err != nil:
			return fmt.Errorf("restore plan: volume %s: %w", name, err)
		}
		runningIDs, err := pl.existing(ctx, &vp, cur, v, helper)
		if err != nil {
			return err
		}
		p.Volumes = append(p.Volumes, vp)
		if vp.Action == ActionRefuse {
			continue
		}
		for i, id := range runningIDs {
			if !stopSeen[id] {
				stopSeen[id] = true
				p.stopIDs = append(p.stopIDs, id)
				p.Stop = append(p.Stop, vp.Stop[i])
			}
		}
		p.Bytes += fe.Size
	}
	return nil
}

// existing plans a volume that exists on the engine as cur: refused (in use
// without StopRunning, or holding data without Force), refilled (left
// incomplete), replaced, or — when containers reference it — overwritten in
// place. It returns the IDs of the running containers to stop (vp.Stop).
func (pl *planner) existing(ctx context.Context, vp *VolumePlan, cur dockerapi.Volume, want pack.VolumeEntry, helper string) ([]string, error) {
	eng, name := pl.spec.Engine, vp.Target
	marks, err := eng.VolumeIncompleteMarks(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("restore plan: volume %s: %w", name, err)
	}
	var running, runningIDs []string
	for _, u := range cur.UsedBy {
		if strings.HasPrefix(u.ContainerName, markerNamePrefix) {
			continue
		}
		vp.Users = append(vp.Users, u.ContainerName)
		if u.Running {
			running = append(running, u.ContainerName)
			runningIDs = append(runningIDs, u.ContainerID)
		}
	}
	if len(running) > 0 && !pl.spec.StopRunning {
		pl.reason(vp, ActionRefuse, ReasonInUse, strings.Join(running, ", "))
		pl.problem("restore.problem.volume", name, vp.Reason)
		return nil, nil
	}
	if len(marks) > 0 {
		pl.reason(vp, ActionRefill, ReasonIncomplete, strings.Join(marks, ", "))
	} else {
		empty, err := eng.VolumeEmpty(ctx, name, helper)
		switch {
		case err != nil:
			return nil, fmt.Errorf("restore plan: volume %s: %w", name, err)
		case !empty && !pl.spec.Force:
			pl.reason(vp, ActionRefuse, ReasonHoldsData)
			pl.problem("restore.problem.volume_data", name, vp.Reason)
			return nil, nil
		case empty:
			pl.reason(vp, ActionReplace, ReasonEmpty)
		default:
			pl.reason(vp, ActionReplace, ReasonForced)
		}
	}
	if len(vp.Users) > 0 {
		// Containers (any state) reference it: it cannot be removed.
		vp.Action = ActionOverwrite
		vp.Reason = pl.t.T("restore.reason.referenced", vp.Reason, strings.Join(vp.Users, ", "))
		if cur.Driver != want.Driver || !maps.Equal(nonnil.Map(cur.Labels), vp.Labels) {
			pl.note("restore.note.driver_differs", name, cur.Driver)
		}
	}
	vp.Stop = running
	return runningIDs, nil
}
