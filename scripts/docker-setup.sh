#!/usr/bin/env bash
# Give this machine a working Docker for the container tests; idempotent, and a no-op (about a
# second) when everything is already there. `make test` and `make test-container` run it.
#   1. install docker.io if there is no Docker daemon binary (root);
#   2. start dockerd in the background unless a daemon already answers (root);
#   3. build the offline Python 3.11 base image ($PYTHON_BASE_IMAGE) if absent, because no
#      image registry may be reachable: debootstrap a minimal Debian bookworm (installing
#      debootstrap if needed), import it, then add Debian's python3 (3.11, with venv).
set -euo pipefail

base_image=${PYTHON_BASE_IMAGE:-local/python:3.11-bookworm}
state_dir=${DOCKER_STATE_DIR:-/var/tmp/docker-setup}
log() { echo "==> docker-setup: $*"; }
as_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  echo "error: $1 needs root: run \`sudo scripts/docker-setup.sh\` once" >&2
  exit 1
}
apt_install() {
  as_root "installing $*"
  log "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

debian_mirror() {
  local sources=/etc/apt/sources.list.d/debian.sources
  if [ -r "$sources" ]; then
    awk '/^URIs:/ {print $2; exit}' "$sources"
  else
    echo "http://deb.debian.org/debian"
  fi
}

command -v dockerd >/dev/null || apt_install docker.io

mkdir -p "$state_dir"
if ! docker info >/dev/null 2>&1; then
  as_root "starting dockerd (or start your Docker service)"
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
    as_root "building the base image with debootstrap"
    command -v debootstrap >/dev/null || apt_install debootstrap
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
