#!/usr/bin/env bash
# Builds synq's container images without a registry (`make images-offline`):
# nothing is pulled, no BuildKit frontend is fetched, buildx is not needed.
#
#   synq   every synq binary, built here with CGO_ENABLED=0 (static), in a
#          FROM scratch image: CA certificates, /tmp, a /data owned by the
#          nonroot user (65532) that volumes mount on; runs as 65532.
#   redis  this machine's redis-server / redis-sentinel / redis-cli (Debian's
#          packages) and /bin/sh (dash, for the Sentinel profile's start-up
#          script), each with the shared libraries ldd lists, FROM scratch;
#          runs as 999 in /data, like redis:7-alpine.
#   worker DIR: your worker module (`ctl new DIR`), built static, FROM
#          scratch, entrypoint its binary (SYNQ_WORKER_IMAGE).
#
# Usage: deploy/offline/images.sh [synq] [redis] [worker DIR]   (default: synq redis)
# Image names: SYNQ_IMAGE (synq:local), SYNQ_REDIS_IMAGE (synq-redis:local),
# SYNQ_WORKER_IMAGE (synq-worker:local). The contexts are kept in
# OFFLINE_DIR (.offline): docker compose can rebuild from them
# (SYNQ_BUILD_CONTEXT=.offline/synq, see docs/compose.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=$(realpath -m "${OFFLINE_DIR:-.offline}")
SYNQ_IMAGE=${SYNQ_IMAGE:-synq:local}
SYNQ_REDIS_IMAGE=${SYNQ_REDIS_IMAGE:-synq-redis:local}
SYNQ_WORKER_IMAGE=${SYNQ_WORKER_IMAGE:-synq-worker:local}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
GO=${GO:-go}
# The classic builder: it builds FROM scratch with the engine alone. The
# Docker CLI warns that it is deprecated; BuildKit would need buildx.
export DOCKER_BUILDKIT=0

gobuild() { # gobuild OUTDIR PKG... (in the current directory's module)
  CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" "$GO" build \
    -ldflags="-s -w -buildid= -X main.version=$VERSION" -o "$1/" "${@:2}"
}

# base ROOTFS: what every scratch image here holds besides its programs.
base() {
  mkdir -p "$1/etc/ssl/certs" "$1/tmp"
  chmod 1777 "$1/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nredis:x:999:999:redis:/data:/sbin/nologin\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nredis:x:999:\n' >"$1/etc/group"
}

build() { # build DIR IMAGE
  # The classic builder's deprecation notice (it says to turn BuildKit on,
  # which needs buildx and a registry here) is shown only when a build fails.
  local log
  log=$(docker build -q -t "$2" "$1" 2>&1 >/dev/null) || { printf '%s\n' "$log" >&2; echo "images-offline: docker build of $2 failed" >&2; exit 1; }
  printf '%-28s %s\n' "$2" "$(docker image inspect -f '{{.Size}}' "$2" | awk '{printf "%.1f MB", $1/1e6}')"
}

synq() {
  local d="$out/synq"
  rm -rf "$d" && mkdir -p "$d/rootfs/usr/local/bin" "$d/data"
  base "$d/rootfs"
  gobuild "$d/rootfs/usr/local/bin" ./cmd/scheduler ./cmd/executor ./cmd/ctl ./cmd/notion-emulator ./cmd/helpdesk
  cat >"$d/Dockerfile" <<'DOCKERFILE'
# Written by deploy/offline/images.sh: host-built static binaries, FROM scratch.
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 data/ /data/
USER 65532:65532
ENTRYPOINT []
CMD ["/usr/local/bin/scheduler"]
DOCKERFILE
  build "$d" "$SYNQ_IMAGE"
}

redis() {
  local d="$out/redis" bin
  for bin in redis-server redis-cli dash; do
    command -v "$bin" >/dev/null || { echo "images-offline: $bin not found: apt-get install redis-server redis-sentinel dash" >&2; exit 1; }
  done
  rm -rf "$d" && mkdir -p "$d/rootfs/usr/local/bin" "$d/rootfs/bin" "$d/data"
  base "$d/rootfs"
  # redis-server is a link to redis-check-rdb, which picks its role by
  # the name it is called by: copy the file under the right names.
  cp -L "$(command -v redis-server)" "$d/rootfs/usr/local/bin/redis-server"
  ln -s redis-server "$d/rootfs/usr/local/bin/redis-sentinel"
  cp -L "$(command -v redis-cli)" "$d/rootfs/usr/local/bin/redis-cli"
  cp -L "$(command -v dash)" "$d/rootfs/bin/sh"
  # Every shared library the programs load, at the path the loader looks.
  local lib
  for lib in $(for bin in redis-server redis-cli dash; do ldd "$(command -v $bin)"; done | awk '/=> \//{print $3} /^[ \t]+\//{print $1}' | sort -u); do
    mkdir -p "$d/rootfs$(dirname "$lib")"
    cp -L "$lib" "$d/rootfs$lib"
  done
  cat >"$d/Dockerfile" <<'DOCKERFILE'
# Written by deploy/offline/images.sh: Debian's redis-server and its
# libraries, FROM scratch.
FROM scratch
COPY rootfs/ /
COPY --chown=999:999 data/ /data/
WORKDIR /data
USER 999:999
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
DOCKERFILE
  build "$d" "$SYNQ_REDIS_IMAGE"
}

worker() { # worker DIR: a module from `ctl new DIR`
  local src d="$out/worker" name
  src=$(cd "$1" && pwd)
  name=$(basename "$src")
  rm -rf "$d" && mkdir -p "$d/rootfs/usr/local/bin"
  base "$d/rootfs"
  (cd "$src" && gobuild "$d/rootfs/usr/local/bin" .)
  mv "$d/rootfs/usr/local/bin/"* "$d/rootfs/usr/local/bin/worker"
  cat >"$d/Dockerfile" <<DOCKERFILE
# Written by deploy/offline/images.sh: the worker in $name, FROM scratch.
FROM scratch
COPY rootfs/ /
USER 65532:65532
ENV SYNQ_METRICS_ADDR=0.0.0.0:9464
ENTRYPOINT ["/usr/local/bin/worker"]
DOCKERFILE
  build "$d" "$SYNQ_WORKER_IMAGE"
}

[ $# -gt 0 ] || set -- synq redis
built_redis=
while [ $# -gt 0 ]; do
  case "$1" in
    synq) synq; shift ;;
    redis) redis; built_redis=1; shift ;;
    worker) [ $# -ge 2 ] || { echo "images-offline: worker needs a directory (ctl new DIR)" >&2; exit 2; }; worker "$2"; shift 2 ;;
    *) echo "images-offline: unknown image $1: synq, redis or worker DIR" >&2; exit 2 ;;
  esac
done
# What to run next: the compose file's Redis image is redis:7-alpine, which
# would be pulled; name the one built here.
if [ -n "$built_redis" ]; then
  vars="SYNQ_REDIS_IMAGE=$SYNQ_REDIS_IMAGE"
  [ "$SYNQ_IMAGE" = synq:local ] || vars="SYNQ_IMAGE=$SYNQ_IMAGE $vars"
  printf '\nNothing to pull now. Bring the stack up with these images:\n  %s docker compose up -d --wait\nor write %s to .env next to docker-compose.yml (one VAR=value a line) for every docker compose command.\n' "$vars" "$vars"
fi
