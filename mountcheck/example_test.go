package mountcheck_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dockpack/dockpack/mountcheck"
)

// Lookup finds the mount holding a path in a recorded mount table; the kernel
// writes the space in the share's name as \040.
func ExampleLookup() {
	table := `28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
98 28 0:52 / /mnt/backup\040share rw,relatime shared:334 - cifs //nas/backup\040share rw,vers=3.1.1,cache=strict,username=backup,soft
`
	mounts, err := mountcheck.ParseMountinfo(strings.NewReader(table))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range []string{"/mnt/backup share/packs", "/mnt/backup"} {
		m, err := mountcheck.Lookup(mounts, p)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s on %q from %q\n", p, m.FSType, m.Mountpoint, m.Source)
	}
	// Output:
	// /mnt/backup share/packs: cifs on "/mnt/backup share" from "//nas/backup share"
	// /mnt/backup: ext4 on "/" from "/dev/vda1"
}

func ExamplePolicy_String() {
	fmt.Println(mountcheck.Policy{})
	fmt.Println(mountcheck.Policy{ExpectedMountPoint: "/mnt/replica", MinFreeBytes: 20 << 30, ProbeTimeout: 5 * time.Second})
	fmt.Println(mountcheck.Policy{FSTypes: []string{"nfs4"}, AllowRootFS: true, SkipProbe: true})
	// Output:
	// fstype cifs|smb3, not on root fs, write probe timeout 10s
	// fstype cifs|smb3, not on root fs, expected mount /mnt/replica, min free 20GiB, write probe timeout 5s
	// fstype nfs4, root fs allowed, no write probe
}

// The root directory is always on the root filesystem, which the default
// policy refuses: this is what a backup target whose share is not mounted
// looks like.
func ExampleVerify() {
	rep, err := mountcheck.Verify(context.TODO(), "/", mountcheck.Policy{SkipProbe: true})
	fmt.Println(errors.Is(err, mountcheck.ErrNotMounted), rep.OnRootFS)
	// Output:
	// true true
}

// Pin the target before a long write and Check it every few hundred MiB.
func ExamplePin() {
	dir, err := os.MkdirTemp("", "mountcheck-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.TODO()
	pin, err := mountcheck.Pin(ctx, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pin.Close()
	// ... write 256 MiB, then:
	if err := pin.Check(ctx); err != nil {
		fmt.Println("stop writing:", err) // errors.Is(err, mountcheck.ErrMountChanged) when the share went away
		return
	}
	fmt.Println("same filesystem as at precheck")
	// Output:
	// same filesystem as at precheck
}
