package mountcheck_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dockpack/dockpack/mountcheck"
)

func TestPolicyValidate(t *testing.T) {
	cases := []struct {
		name    string
		p       mountcheck.Policy
		wantErr string // "" = valid; else a part of the message
	}{
		{"zero value", mountcheck.Policy{}, ""},
		{"named types", mountcheck.Policy{FSTypes: []string{"nfs4", "tmpfs", "fuse.sshfs"}}, ""},
		{"any type", mountcheck.Policy{AnyFSType: true, AllowRootFS: true}, ""},
		{"full", mountcheck.Policy{ExpectedMountPoint: "/mnt/replica", MinFreeBytes: 1 << 30, ProbeTimeout: time.Second}, ""},
		{"negative timeout", mountcheck.Policy{ProbeTimeout: -time.Second}, "negative"},
		{"any wins over named", mountcheck.Policy{AnyFSType: true, FSTypes: []string{"cifs", "smb3"}}, ""},
		{"empty type", mountcheck.Policy{FSTypes: []string{"cifs", ""}}, `""`},
		{"list in one type", mountcheck.Policy{FSTypes: []string{"cifs,smb3"}}, `"cifs,smb3"`},
		{"relative mount point", mountcheck.Policy{ExpectedMountPoint: "mnt/replica"}, "mnt/replica"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, mountcheck.ErrPolicy) {
				t.Fatalf("Validate() = %v, want ErrPolicy", err)
			}
			mustContain(t, err.Error(), c.wantErr)
		})
	}
}

func TestPolicyString(t *testing.T) {
	cases := []struct {
		p    mountcheck.Policy
		want string
	}{
		{mountcheck.Policy{}, "fstype cifs|smb3, not on root fs, write probe timeout 10s"},
		{mountcheck.Policy{ExpectedMountPoint: "/mnt/replica/"},
			"fstype cifs|smb3, not on root fs, expected mount /mnt/replica, write probe timeout 10s"},
		{mountcheck.Policy{AnyFSType: true, AllowRootFS: true, MinFreeBytes: 5 << 30, SkipProbe: true},
			"any fstype, root fs allowed, min free 5GiB, no write probe"},
		{mountcheck.Policy{AnyFSType: true, FSTypes: []string{"cifs"}}, "any fstype, not on root fs, write probe timeout 10s"},
		{mountcheck.Policy{FSTypes: []string{"nfs4"}, ProbeTimeout: 1500 * time.Millisecond},
			"fstype nfs4, not on root fs, write probe timeout 1.5s"},
	}
	for _, c := range cases {
		if got := c.p.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestVerifyRejectsInvalidPolicy(t *testing.T) {
	_, err := mountcheck.Verify(t.Context(), t.TempDir(), mountcheck.Policy{ProbeTimeout: -1})
	if !errors.Is(err, mountcheck.ErrPolicy) {
		t.Fatalf("err = %v, want ErrPolicy", err)
	}
}
