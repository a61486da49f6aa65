// Command s3lease takes the pack store's exclusive lease in an S3 bucket
// and holds it until killed: the other process of the cross-host lease
// test (integration/s3_test.go). Its settings come from the environment.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

func main() {
	ctx := context.Background()
	o := s3.Options{
		Bucket: os.Getenv("LEASE_BUCKET"), Prefix: os.Getenv("LEASE_PREFIX"), Endpoint: os.Getenv("LEASE_ENDPOINT"),
		AccessKeyID: os.Getenv("LEASE_ACCESS"), SecretAccessKey: os.Getenv("LEASE_SECRET"), Exclusive: s3.Exclusive(os.Getenv("LEASE_EXCLUSIVE")),
	}
	if o.Exclusive == s3.ExclusiveFallback {
		o.ClaimWait = s3.MinClaimWait
	}
	b, err := s3.Open(ctx, o)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	id := owner.Self("")
	if h := os.Getenv("LEASE_HOST"); h != "" {
		id.Host = h // another host: never judged dead from here, only expired
	}
	ttl, _ := strconv.Atoi(os.Getenv("LEASE_TTL_MS"))
	l, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: id, Purpose: "prune", TTL: time.Duration(ttl) * time.Millisecond})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	_ = l // renewed in the background until the process dies
	fmt.Println("held")
	select {}
}
