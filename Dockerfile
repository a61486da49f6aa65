# dockpack's container image: the static binary FROM scratch, plus the three
# things a scratch image lacks and dockpack needs:
#   /tmp                                 writable (mode 1777): SQLite snapshots are staged there
#   /etc/ssl/certs/ca-certificates.crt   webhooks over HTTPS
#   time zone data                       compiled into the binary (-tags timetzdata, and the
#                                        job system imports time/tzdata), for schedules
#
# Nothing is pulled: `make image` builds the binary on the host (CGO_ENABLED=0)
# and assembles the build context bin/image/ (this file, rootfs/ with the
# binary, the CA bundle and an empty /tmp), then runs
# `DOCKER_BUILDKIT=0 docker build` on it.
#
#   make image                        # image dockpack:latest (IMAGE=name:tag to change)
#   docker run --rm dockpack:latest version
#
# See examples/compose/ for running the daemon with the docker socket, the
# target share (rslave propagation), the database directory and a staging volume.
FROM scratch

COPY rootfs/ /

# The daemon listens on all interfaces inside the container (publish the
# port on 127.0.0.1 only, or put it behind a proxy: every route but /healthz
# needs the bearer token). State DB and generated token live in the state
# volume; SQLite snapshots are staged in /tmp unless DOCKPACK_STAGING_DIR
# names a mounted staging volume.
ENV DOCKPACK_LISTEN=0.0.0.0:8420 \
    DOCKPACK_STATE_DIR=/var/lib/dockpack \
    DOCKPACK_LOG_FORMAT=json \
    TMPDIR=/tmp

LABEL org.opencontainers.image.title="dockpack" \
      org.opencontainers.image.description="Verified backups (migration packs) of Docker Compose stacks: images, volumes and SQLite" \
      org.opencontainers.image.source="https://github.com/dockpack/dockpack" \
      org.opencontainers.image.licenses="MIT"

EXPOSE 8420
ENTRYPOINT ["/usr/local/bin/dockpack"]
CMD ["serve"]
