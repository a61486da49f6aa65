package mountcheck_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/mountcheck"
	"github.com/moby/sys/mountinfo"
)

func TestParseMountinfoRecordedShares(t *testing.T) {
	cases := []struct {
		file string
		id   int
		want mountinfo.Info
	}{
		{"cifs-host.mountinfo", 98, mountinfo.Info{
			ID: 98, Parent: 28, Major: 0, Minor: 52, Root: "/", Mountpoint: "/mnt/backup share",
			Options: "rw,relatime", Optional: "shared:334", FSType: "cifs", Source: "//nas/backup share",
		}},
		{"cifs-host.mountinfo", 112, mountinfo.Info{
			ID: 112, Parent: 28, Major: 0, Minor: 58, Root: "/", Mountpoint: "/mnt/replica",
			Options: "rw,nosuid,nodev,noexec,relatime", Optional: "shared:351", FSType: "smb3", Source: "//fileserver.corp.lan/Backups",
		}},
		{"nfs-host.mountinfo", 62, mountinfo.Info{
			ID: 62, Parent: 26, Major: 0, Minor: 48, Root: "/", Mountpoint: "/srv/backup",
			Options: "rw,relatime", Optional: "shared:40", FSType: "nfs4", Source: "nas.example.lan:/export/backup",
		}},
		{"nfs-host.mountinfo", 64, mountinfo.Info{
			ID: 64, Parent: 26, Major: 0, Minor: 50, Root: "/", Mountpoint: "/mnt/team share",
			Options: "rw,relatime", Optional: "shared:42", FSType: "nfs4", Source: "[fd00:10::5]:/export/team share",
		}},
		{"docker-container.mountinfo", 1212, mountinfo.Info{
			ID: 1212, Parent: 1203, Major: 254, Minor: 1, Root: "/srv/dockpack/state", Mountpoint: "/var/lib/dockpack",
			Options: "rw,relatime", FSType: "ext4", Source: "/dev/vda1",
		}},
		{"nested-bind.mountinfo", 204, mountinfo.Info{
			ID: 204, Parent: 200, Major: 0, Minor: 74, Root: "/", Mountpoint: "/tmp/dockpack-test-1/back\\slash\ttab",
			Options: "rw,relatime", FSType: "tmpfs", Source: "odd source",
		}},
		{"nested-bind.mountinfo", 205, mountinfo.Info{
			ID: 205, Parent: 200, Major: 0, Minor: 75, Root: "/", Mountpoint: "/tmp/dockpack-test-1/trailing ",
			Options: "rw,relatime", FSType: "tmpfs", Source: "tmpfs",
		}},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.want.Mountpoint, func(t *testing.T) {
			mounts := MustParseFile(t, c.file)
			i := slices.IndexFunc(mounts, func(m *mountinfo.Info) bool { return m.ID == c.id })
			if i < 0 {
				t.Fatalf("mount id %d not parsed", c.id)
			}
			got := *mounts[i]
			got.VFSOptions = "" // checked below, too long for the table
			if got != c.want {
				t.Fatalf("parsed\n %+v\nwant\n %+v", got, c.want)
			}
			if !strings.HasPrefix(mounts[i].VFSOptions, "r") {
				t.Fatalf("super options %q", mounts[i].VFSOptions)
			}
		})
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for name, text := range map[string]string{
		"too few fields":    "27 1 254:0 / / rw - ext4\n",
		"no separator":      "27 1 254:0 / / rw shared:1 master:2 ext4 /dev/vda rw\n",
		"bad major:minor":   "27 1 2540 / / rw - ext4 /dev/vda rw\n",
		"blank line inside": "27 1 254:0 / / rw - ext4 /dev/vda rw\n\n28 27 0:5 / /dev rw - devtmpfs udev rw\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := mountcheck.ParseMountinfo(strings.NewReader(text)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestLookup(t *testing.T) {
	cases := []struct {
		file, path string
		wantID     int
	}{
		// CIFS/SMB3 host, a mount point with a space, prefix names.
		{"cifs-host.mountinfo", "/mnt/backup share/packs/migration_pack_x", 98},
		{"cifs-host.mountinfo", "/mnt/backup share", 98},
		{"cifs-host.mountinfo", "/mnt/backup share/", 98},
		{"cifs-host.mountinfo", "/mnt/backup", 28},
		{"cifs-host.mountinfo", "/mnt/backup sharex/y", 28},
		{"cifs-host.mountinfo", "/mnt/replica/", 112},
		{"cifs-host.mountinfo", "/mnt/replica//packs/./x", 112},
		{"cifs-host.mountinfo", "/mnt/replica/../replica/p", 112},
		{"cifs-host.mountinfo", "/mnt/replica/..", 28},
		{"cifs-host.mountinfo", "/mnt/a/x", 120},
		{"cifs-host.mountinfo", "/mnt/a", 120},
		{"cifs-host.mountinfo", "/mnt/ab/x", 121},
		{"cifs-host.mountinfo", "/mnt/abc", 28},
		{"cifs-host.mountinfo", "/mnt/archive/2024", 115},
		{"cifs-host.mountinfo", "/", 28},
		{"cifs-host.mountinfo", "/dev/pts/0", 25},
		{"cifs-host.mountinfo", "/dev/ptsx", 24},
		// NFS: nested NFS mounts, IPv6 source with a space.
		{"nfs-host.mountinfo", "/srv/backup/packs", 62},
		{"nfs-host.mountinfo", "/srv/backup/archive/2019", 63},
		{"nfs-host.mountinfo", "/srv/backup/archived", 62},
		{"nfs-host.mountinfo", "/mnt/team share/x", 64},
		{"nfs-host.mountinfo", "/mnt/team", 26},
		// Inside a container: overlay root, binds of files and directories.
		{"docker-container.mountinfo", "/mnt/replica/packs", 1211},
		{"docker-container.mountinfo", "/var/lib/dockpack/state.db", 1212},
		{"docker-container.mountinfo", "/etc/hosts", 1215},
		{"docker-container.mountinfo", "/etc/hostsx", 1203},
		{"docker-container.mountinfo", "/tmp/staging", 1203},
		{"docker-container.mountinfo", "/proc/sys/kernel", 1086},
		{"docker-container.mountinfo", "/var/run/docker.sock", 1216},
		// Nested, bind and stacked mounts, escapes.
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/inner/deeper/x", 202},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/inner/deep", 201},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/inner", 201},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/innerx", 200},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/with space/a", 203},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/with", 200},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/back\\slash\ttab/f", 204},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/trailing /f", 205},
		{"nested-bind.mountinfo", "/tmp/dockpack-test-1/trailing", 200},
		{"nested-bind.mountinfo", "/mnt/stack/x", 211},
		{"nested-bind.mountinfo", "/mnt/bind/sub/x", 213},
		{"nested-bind.mountinfo", "/mnt/bind/file", 212},
		{"nested-bind.mountinfo", "/var/lib/docker/volumes", 42},
		{"nested-bind.mountinfo", "/var/lib/dockerx", 27},
	}
	for _, c := range cases {
		t.Run(c.file+":"+c.path, func(t *testing.T) {
			mounts := MustParseFile(t, c.file)
			m, err := mountcheck.Lookup(mounts, c.path)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != c.wantID {
				t.Fatalf("Lookup(%q) = mount %d on %q, want mount %d", c.path, m.ID, m.Mountpoint, c.wantID)
			}
			// The answer does not depend on the order of the table.
			rev := slices.Clone(mounts)
			slices.Reverse(rev)
			if m2, err := mountcheck.Lookup(rev, c.path); err != nil || m2.ID != c.wantID {
				t.Fatalf("reversed table: Lookup(%q) = %v, %v; want mount %d", c.path, m2, err, c.wantID)
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	mounts := MustParseFile(t, "cifs-host.mountinfo")
	if _, err := mountcheck.Lookup(mounts, "mnt/replica"); err == nil {
		t.Error("relative path: no error")
	}
	if _, err := mountcheck.Lookup(mounts, ""); err == nil {
		t.Error("empty path: no error")
	}
	noRoot := slices.DeleteFunc(slices.Clone(mounts), func(m *mountinfo.Info) bool { return m.Mountpoint == "/" })
	_, err := mountcheck.Lookup(noRoot, "/srv/x")
	if !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Errorf("table without /: err = %v, want ErrNotMounted", err)
	}
	if _, err := mountcheck.Lookup(nil, "/"); !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Errorf("empty table: err = %v, want ErrNotMounted", err)
	}
}
