#!/usr/bin/env bash
# make demo: build a tiny compose stack on the local engine, back it up into
# ./demo-packs with the mount policy relaxed explicitly (a local folder is not
# a network share), verify the pack with sha256sum and print it.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/bin/dockpack
project=dockpack-demo
export DEMO_DATA=$root/demo-data
mkdir -p "$DEMO_DATA" demo-packs bin/demo-image

echo "== building dockpack and the demo image (FROM scratch, nothing pulled)"
CGO_ENABLED=0 go build -o "$bin" ./cmd/dockpack
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/demo-image/testapp ./internal/testapp
cp examples/demo/Dockerfile bin/demo-image/Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t dockpack-demo/app:1 bin/demo-image 2>&1 | grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e '^ *environment-variable' -e '^$' || true

echo "== starting the sample stack (compose project $project)"
docker-compose -p "$project" -f examples/demo/docker-compose.yml up -d </dev/null
# wait until the app has created its database and written a few rows
for _ in $(seq 1 100); do
  [ -s "$DEMO_DATA/app.db" ] && break
  sleep 0.1
done
[ -s "$DEMO_DATA/app.db" ] || { echo "demo: the app did not create $DEMO_DATA/app.db" >&2; exit 1; }

echo "== backing up (the target is a local folder, so the mount policy is relaxed explicitly)"
"$bin" backup --project "$project" --target "$root/demo-packs" --sqlite "$DEMO_DATA/app.db" \
  --stop worker --any-fstype --allow-root-fs --log-level warn --json > bin/demo-backup.jsonl
tail -n 1 bin/demo-backup.jsonl

pack=$(ls -d "$root"/demo-packs/migration_pack_* | sort | tail -n 1)
echo "== verifying $pack with sha256sum -c"
(cd "$pack" && sha256sum -c SHA256SUMS)
echo
"$bin" show "$pack"
echo
echo "== dockpack verify (every checksum, the image archive, each volume tar, the SQLite snapshot)"
"$bin" verify "$pack" --log-level warn
echo
echo "== what a restore under a new project name would do (dockpack restore --plan changes nothing)"
"$bin" restore "$pack" --project dockpack-demo-copy --sqlite-dest "$root/demo-data/restored.db" --plan --log-level warn
echo
"$bin" packs --target "$root/demo-packs"
echo "demo: pack ready in $pack"
echo "demo: stop the sample stack with: make demo-clean"
