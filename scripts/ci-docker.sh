#!/usr/bin/env bash
# Give this machine a working Docker for the container tests; idempotent, safe to re-run.
#   1. install docker.io (daemon + a BuildKit-capable client) and debootstrap if missing;
#   2. start dockerd in the background unless a daemon already answers;
#   3. build the offline Python 3.11 base image ($PYTHON_BASE_IMAGE) if absent, because no
#      image registry is reachable here: debootstrap a minimal Debian bookworm, import it,
#      then add Debian's python3 (3.11, with venv) in one small Dockerfile.
# Root is needed for steps 1-2 (CI and the dev machines run as root).
set -euo pipefail

base_image=${PYTHON_BASE_IMAGE:-local/python:3.11-bookworm}
state_dir=${DOCKER_STATE_DIR:-/var/tmp/ci-docker}
log() { echo "==> ci-docker: $*"; }

debian_mirror() {
  local sources=/etc/apt/sources.list.d/debian.sources
  if [ -r "$sources" ]; then
    awk '/^URIs:/ {print $2; exit}' "$sources"
  else
    echo "http://deb.debian.org/debian"
  fi
}

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null \
  || [ ! -x /usr/bin/docker ]; then
  log "installing docker.io and debootstrap (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
fi

mkdir -p "$state_dir"
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $state_dir/dockerd.log)"
  setsid dockerd >"$state_dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || {
    echo "error: dockerd did not start; see $state_dir/dockerd.log" >&2
    tail -n 20 "$state_dir/dockerd.log" >&2
    exit 1
  }
fi
log "daemon up: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}')"

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  rootfs_image="${base_image%%:*}-rootfs:bookworm"
  if ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
    rootfs=$(mktemp -d "$state_dir/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap minimal bookworm from $(debian_mirror) (about 30 s)"
    debootstrap --variant=minbase bookworm "$rootfs" "$(debian_mirror)" >"$state_dir/debootstrap.log" 2>&1 || {
      echo "error: debootstrap failed; see $state_dir/debootstrap.log" >&2
      exit 1
    }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$rootfs_image" >/dev/null
  fi
  log "building $base_image (Debian's Python 3.11 on $rootfs_image)"
  docker build --quiet --tag "$base_image" - >/dev/null <<EOF
FROM $rootfs_image
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3 python3-venv ca-certificates \\
 && ln -s /usr/bin/python3 /usr/local/bin/python \\
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
EOF
fi
log "base image ready: $base_image ($(docker run --rm "$base_image" python --version))"
