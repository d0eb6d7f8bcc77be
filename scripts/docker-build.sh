#!/usr/bin/env bash
# `docker build` with BuildKit, whichever docker CLI this machine has: `docker buildx build --load`
# where the buildx plugin exists, else the classic client's built-in BuildKit (DOCKER_BUILDKIT=1,
# Docker < 23). Adds the pip_ca build secret when PIP_CA names a CA bundle (behind a
# TLS-intercepting proxy). All arguments go to `docker build`.
#   scripts/docker-build.sh -f Dockerfile.producer -t customer-producer .
#   PIP_CA=/etc/ssl/certs/ca-certificates.crt scripts/docker-build.sh -f Dockerfile.pipeline -t p .
set -euo pipefail

secret=()
if [ -n "${PIP_CA:-}" ]; then
  [ -r "$PIP_CA" ] || { echo "error: PIP_CA=$PIP_CA is not a readable file" >&2; exit 2; }
  secret=(--secret "id=pip_ca,src=$PIP_CA")
fi

candidates=("${DOCKER:-docker}")
[ -z "${DOCKER:-}" ] && candidates+=(/usr/bin/docker)
for cli in "${candidates[@]}"; do
  command -v "$cli" >/dev/null || continue
  if "$cli" buildx version >/dev/null 2>&1; then
    exec "$cli" buildx build --load "${secret[@]}" "$@"
  fi
  major=$("$cli" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)
  if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 23 ]; then
    DOCKER_BUILDKIT=1 exec "$cli" build "${secret[@]}" "$@"
  fi
done
echo "error: no docker CLI with BuildKit found: install the buildx plugin (docker-buildx-plugin)" \
  "or Debian's docker.io, or set DOCKER=/path/to/docker (scripts/docker-setup.sh sets one up)" >&2
exit 2
