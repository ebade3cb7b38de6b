#!/usr/bin/env bash
# Make the two local images the real-builder test needs where no registry is reachable (only Debian's
# mirror and PyPI are): a Debian bookworm base with Python 3.11 (debootstrap), and a uv image holding
# /uv and /uvx taken from uv's PyPI wheel. Needs root, buildah and debootstrap (apt-get install buildah
# debootstrap). The test then builds a generated context with --build-arg BASE_IMAGE/UV_IMAGE.
set -euo pipefail
store=(--storage-driver vfs)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! buildah "${store[@]}" inspect --type image localhost/liftinfer-test-base:bookworm >/dev/null 2>&1; then
  rootfs=${LIFTINFER_TEST_ROOTFS:-$work/rootfs}
  [ -x "$rootfs/usr/bin/python3" ] || debootstrap --variant=minbase --include=python3 bookworm "$rootfs" \
    http://deb.debian.org/debian
  c=$(buildah "${store[@]}" from scratch)
  buildah "${store[@]}" copy "$c" "$rootfs" /
  buildah "${store[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  # trust what this machine trusts (a network whose egress proxy has its own CA)
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    buildah "${store[@]}" copy "$c" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
    buildah "${store[@]}" config --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$c"
  fi
  buildah "${store[@]}" commit --rm "$c" localhost/liftinfer-test-base:bookworm
fi

if ! buildah "${store[@]}" inspect --type image localhost/liftinfer-test-uv:latest >/dev/null 2>&1; then
  python3 -m pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 -d "$work" uv
  (cd "$work" && python3 -m zipfile -e uv-*.whl wheel)
  c=$(buildah "${store[@]}" from scratch)
  buildah "${store[@]}" copy --chmod 755 "$c" "$work"/wheel/uv-*.data/scripts/uv /uv
  buildah "${store[@]}" copy --chmod 755 "$c" "$work"/wheel/uv-*.data/scripts/uvx /uvx
  buildah "${store[@]}" commit --rm "$c" localhost/liftinfer-test-uv:latest
fi
buildah "${store[@]}" images
