#!/usr/bin/env bash
# Builds every image docker-compose.yml names, on a machine without an image
# registry (make compose-images; the compose test runs it too):
#
#  - authlab: a static binary built here (CGO_ENABLED=0), put into the final
#    stage of the root Dockerfile (FROM scratch: no base image to pull). The
#    Dockerfile's build stage is not used.
#  - redis and haproxy: used as they are when present; pulled when a
#    registry answers; otherwise a STAND-IN is built from Debian's packages
#    (apt-get installed when missing): the binaries and the shared libraries
#    ldd lists, copied into a FROM-scratch image tagged with the same name,
#    so the compose file is the same in both cases. The redis stand-in has
#    redis-server, redis-cli (health checks, cluster creation), /bin/sh
#    (dash) and sleep (the sentinels create their writable config file with
#    the shell; the redis-ready gate polls with all three); the haproxy
#    stand-in has haproxy.
#
# Image names are read from the x-images block of docker-compose.yml.
# Environment: GO (default go), PULL_TIMEOUT (seconds, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
PULL_TIMEOUT=${PULL_TIMEOUT:-60}
COMPOSE_FILE=docker-compose.yml

say() { printf 'compose-images: %s\n' "$*"; }
die() { printf 'compose-images: ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker not found"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

# image NAME: the image named by "NAME: &NAME-image IMAGE" in x-images.
image() {
	local v
	v=$(sed -n "s/^[[:space:]]*$1:[[:space:]]*&$1-image[[:space:]]*\([^[:space:]#]*\).*/\1/p" "$COMPOSE_FILE" | head -n1)
	[ -n "$v" ] || die "no '$1: &$1-image NAME' line in the x-images block of $COMPOSE_FILE"
	printf '%s' "$v"
}
AUTHLAB_IMAGE=$(image authlab)
REDIS_IMAGE=$(image redis)
HAPROXY_IMAGE=$(image haproxy)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# quiet_build IMAGE DIR: docker build, its output shown only when it fails
# (the legacy builder's deprecation notice otherwise).
# An earlier image of that name left untagged is removed (unless a
# container still uses it).
quiet_build() {
	local old new
	old=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)
	docker build -q -t "$1" "$2" >/dev/null 2>"$WORK/build.err" || {
		cat "$WORK/build.err" >&2
		die "docker build of $1 failed"
	}
	new=$(docker image inspect -f '{{.Id}}' "$1")
	if [ -n "$old" ] && [ "$old" != "$new" ]; then
		docker image rm "$old" >/dev/null 2>&1 || true
	fi
}

# --- authlab -----------------------------------------------------------------
build_authlab() {
	local ctx=$WORK/authlab
	mkdir -p "$ctx/out/tmp"
	chmod 1777 "$ctx/out/tmp"
	say "building a static authlab (CGO_ENABLED=0)…"
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$ctx/out/authlab" ./cmd/authlab
	# The root Dockerfile's final stage (from its last FROM), fed from the
	# binary just built instead of the build stage.
	awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' Dockerfile |
		sed 's#^COPY --from=build /out/ /#COPY out/ /#' >"$ctx/Dockerfile"
	grep -q '^FROM scratch' "$ctx/Dockerfile" || die "the Dockerfile's final stage is not FROM scratch"
	grep -q '^COPY out/ /' "$ctx/Dockerfile" || die "the Dockerfile's final stage lacks 'COPY --from=build /out/ /'"
	quiet_build "$AUTHLAB_IMAGE" "$ctx"
	say "$AUTHLAB_IMAGE: built from the binary built here"
}

# --- stand-ins ---------------------------------------------------------------
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""
# need PACKAGE PATH...: installs PACKAGE with apt-get unless every PATH exists.
need() {
	local pkg=$1 p missing=""
	shift
	for p in "$@"; do [ -e "$p" ] || missing=1; done
	[ -n "$missing" ] || return 0
	command -v apt-get >/dev/null 2>&1 || die "$pkg is missing and there is no apt-get: install it, or load the image yourself"
	say "installing Debian's $pkg with apt-get (for a stand-in image)…"
	if [ -z "$APT_UPDATED" ]; then
		$SUDO apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
	for p in "$@"; do [ -e "$p" ] || die "$pkg installed but $p is still missing"; done
}

# copy_with_libs ROOTFS SRC DEST: copies the executable SRC to ROOTFS/DEST
# (following symlinks: Debian's redis-server is a link to redis-check-rdb,
# and the program's name decides what it does), then every shared library
# ldd lists for SRC, at the path ldd gives.
copy_with_libs() {
	local root=$1 src=$2 dest=$3 lib
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$src" "$root$dest"
	if ldd "$src" 2>&1 | grep -q 'not found'; then
		die "ldd $src: a library is missing: $(ldd "$src" | grep 'not found' | tr '\n' ' ')"
	fi
	ldd "$src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
		while read -r lib; do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
}

# What a stand-in holds; bump it when build_*_standin changes, so stand-ins
# built by an older version of this script are built again.
STANDIN_VERSION=2

# present IMAGE: true when the engine has IMAGE (and it is not a stand-in
# from an older version of this script), or could pull it.
present() {
	local labels
	if labels=$(docker image inspect -f '{{index .Config.Labels "org.authlab.stand-in"}}|{{index .Config.Labels "org.authlab.stand-in.version"}}' "$1" 2>/dev/null); then
		case $labels in
		"|" | "<no value>|<no value>")
			say "$1: present"
			return 0
			;;
		*"|$STANDIN_VERSION")
			say "$1: present (a stand-in built earlier from Debian's packages)"
			return 0
			;;
		esac
		say "$1: present, but a stand-in from an older version of this script; building it again"
		return 1
	fi
	say "$1: not present; trying to pull it…"
	if timeout "$PULL_TIMEOUT" docker pull -q "$1" >/dev/null 2>"$WORK/pull.err"; then
		say "$1: pulled"
		return 0
	fi
	say "$1: cannot be pulled ($(tail -n1 "$WORK/pull.err" | cut -c1-160))"
	return 1
}

# standin IMAGE DOCKERFILE-TAIL: builds $WORK/standin/rootfs into IMAGE.
standin_build() {
	local image=$1 tail=$2 ctx=$WORK/standin
	{
		echo "FROM scratch"
		echo "COPY rootfs/ /"
		echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		echo "LABEL org.authlab.stand-in.version=\"$STANDIN_VERSION\""
		printf '%s\n' "$tail"
	} >"$ctx/Dockerfile"
	quiet_build "$image" "$ctx"
	rm -rf "$ctx"
}

build_redis_standin() {
	need redis-server /usr/bin/redis-server
	need redis-tools /usr/bin/redis-cli
	local root=$WORK/standin/rootfs version
	mkdir -p "$root/data" "$root/tmp"
	chmod 1777 "$root/tmp"
	copy_with_libs "$root" /usr/bin/redis-server /usr/local/bin/redis-server
	copy_with_libs "$root" /usr/bin/redis-cli /usr/local/bin/redis-cli
	# A shell and sleep: the sentinels need a writable config file, which
	# only a shell can create in both this image and the real one, and the
	# redis-ready gate (deploy/redis/wait-ready.sh) is a shell loop.
	copy_with_libs "$root" "$(readlink -f /bin/sh)" /bin/sh
	copy_with_libs "$root" "$(readlink -f /bin/sleep)" /bin/sleep
	version=$(/usr/bin/redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
	standin_build "$REDIS_IMAGE" "WORKDIR /data
EXPOSE 6379
LABEL org.authlab.stand-in=\"Debian redis-server $version (deploy/build-images.sh)\"
CMD [\"redis-server\"]"
	say "$REDIS_IMAGE: STAND-IN built from Debian's redis-server $version (redis-server, redis-cli, sh, sleep on scratch)"
}

build_haproxy_standin() {
	need haproxy /usr/sbin/haproxy
	local root=$WORK/standin/rootfs version
	mkdir -p "$root/usr/local/etc/haproxy" "$root/tmp" "$root/var/lib/haproxy"
	chmod 1777 "$root/tmp"
	copy_with_libs "$root" /usr/sbin/haproxy /usr/local/sbin/haproxy
	version=$(/usr/sbin/haproxy -v | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p')
	standin_build "$HAPROXY_IMAGE" "EXPOSE 8000
LABEL org.authlab.stand-in=\"Debian haproxy $version (deploy/build-images.sh)\"
CMD [\"haproxy\", \"-f\", \"/usr/local/etc/haproxy/haproxy.cfg\"]"
	say "$HAPROXY_IMAGE: STAND-IN built from Debian's haproxy $version (haproxy on scratch)"
}

build_authlab
present "$REDIS_IMAGE" || build_redis_standin
present "$HAPROXY_IMAGE" || build_haproxy_standin
say "done: $AUTHLAB_IMAGE $REDIS_IMAGE $HAPROXY_IMAGE"
