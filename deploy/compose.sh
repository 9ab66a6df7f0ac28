#!/usr/bin/env bash
# The compose deployment from the Makefile (make compose-env, compose-up,
# compose-down, compose-bench), with whichever of `docker compose` (v2)
# and `docker-compose` (v1) the machine has.
#
#   deploy/compose.sh env     write .env with random secrets when there is none
#   deploy/compose.sh up      start everything; wait until a login passes
#                             through the lb (and HAProxy with FRONT=haproxy)
#   deploy/compose.sh down    remove every container, network and volume of
#                             the project, whatever profiles were used
#   deploy/compose.sh bench   up, then the harness against it (bench --target):
#                             steady load, a gateway docker-killed, one cut
#                             off from Redis; BENCH_ARGS adds bench flags
#
# Environment (all optional): STRATEGY, LB_POLICY, REDIS_URL and the other
# variables of .env.example (a variable set here wins over .env);
# REDIS_TOPOLOGY single|cluster|sentinel (default single: which Redis the
# gateways use; cluster and sentinel turn their profile on and set
# REDIS_URL); FRONT lb|haproxy (default lb; haproxy adds HAProxy in front
# of the same gateways); UP_TIMEOUT seconds (default 300);
# COMPOSE_PROJECT_NAME (compose's own; default: the directory's name).
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_FILE=.env
SECRETS=(AUTHLAB_LB_ADMIN_TOKEN AUTHLAB_GATEWAY_ADMIN_TOKEN AUTHLAB_LB_COOKIE_KEY AUTHLAB_ASSERTION_KEY
	AUTHLAB_FINGERPRINT_KEY AUTHLAB_JWT_SECRET AUTHLAB_JWT_ED25519_SEED AUTHLAB_SEED_PASSWORD AUTHLAB_ADMIN_PASSWORD)
ALL_PROFILES=(--profile haproxy --profile cluster --profile sentinel)

say() { printf 'compose: %s\n' "$*"; }
die() { printf 'compose: ERROR: %s\n' "$*" >&2; exit 1; }

# The compose command: v2 plugin when present, else v1.
compose_cmd() {
	if docker compose version >/dev/null 2>&1; then
		COMPOSE=(docker compose)
	elif command -v docker-compose >/dev/null 2>&1; then
		COMPOSE=(docker-compose)
	else
		die "neither 'docker compose' nor 'docker-compose' is installed"
	fi
}

# setting NAME: NAME from the environment, else from .env, else empty.
setting() {
	local name=$1
	if [ -n "${!name:-}" ]; then
		printf '%s' "${!name}"
	elif [ -f "$ENV_FILE" ]; then
		sed -n "s/^$name=//p" "$ENV_FILE" | tail -n1
	fi
}

cmd_env() {
	if [ -f "$ENV_FILE" ]; then
		say "$ENV_FILE exists; kept as it is"
		return
	fi
	local tmp v
	tmp=$(mktemp .env.XXXXXX)
	chmod 600 "$tmp"
	cp .env.example "$tmp"
	for v in "${SECRETS[@]}"; do
		# 32 random bytes, base64: long enough for every secret, and the
		# exact size of the Ed25519 seed.
		sed -i "s|^$v=\$|$v=$(head -c 32 /dev/urandom | base64 -w0)|" "$tmp"
	done
	mv "$tmp" "$ENV_FILE"
	say "wrote $ENV_FILE (mode 0600) from .env.example with random secrets: ${SECRETS[*]}"
}

# login URL USER PASSWORD: prints the HTTP status of a login through URL.
# The password goes through stdin, never curl's arguments.
login() {
	local pw=$3
	pw=${pw//\\/\\\\}
	pw=${pw//\"/\\\"}
	printf '{"username":"%s","password":"%s"}' "$2" "$pw" |
		curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$1/auth/login" \
			-H 'Content-Type: application/json' --data-binary @- 2>/dev/null || true
}

# wait_login NAME URL: waits until a login through URL answers 200.
wait_login() {
	local name=$1 url=$2 deadline code=""
	deadline=$((SECONDS + ${UP_TIMEOUT:-300}))
	while [ $SECONDS -lt $deadline ]; do
		code=$(login "$url" user0001 "$PASSWORD")
		if [ "$code" = 200 ]; then
			say "$name answers a login: POST $url/auth/login → 200"
			return 0
		fi
		sleep 1
	done
	"${COMPOSE[@]}" "${PROFILES[@]}" ps >&2 || true
	"${COMPOSE[@]}" "${PROFILES[@]}" logs --no-color --tail 20 >&2 || true
	die "no login through $name ($url) within ${UP_TIMEOUT:-300}s (last status: ${code:-none})"
}

cmd_up() {
	command -v curl >/dev/null 2>&1 || die "curl is needed to check the deployment"
	cmd_env
	compose_cmd
	PROFILES=()
	case ${REDIS_TOPOLOGY:-single} in
	single) ;;
	cluster)
		PROFILES+=(--profile cluster)
		export REDIS_URL=${REDIS_URL:-redis+cluster://redis-node-1:6379,redis-node-2:6379,redis-node-3:6379}
		;;
	sentinel)
		PROFILES+=(--profile sentinel)
		export REDIS_URL=${REDIS_URL:-redis+sentinel://redis-sentinel-1:26379,redis-sentinel-2:26379,redis-sentinel-3:26379/mymaster}
		;;
	*) die "REDIS_TOPOLOGY=${REDIS_TOPOLOGY}: want single, cluster or sentinel" ;;
	esac
	case ${FRONT:-lb} in
	lb) ;;
	haproxy) PROFILES+=(--profile haproxy) ;;
	*) die "FRONT=${FRONT}: want lb or haproxy" ;;
	esac
	local strategy policy
	strategy=$(setting STRATEGY)
	strategy=${strategy:-jwt}
	policy=$(setting LB_POLICY)
	if [ "$strategy" = sticky ] && [ "${policy:-round-robin}" != sticky ]; then
		say "STRATEGY=sticky: the lb's sticky policy (LB_POLICY=sticky)"
		export LB_POLICY=sticky
	fi
	say "starting: STRATEGY=$strategy LB_POLICY=${LB_POLICY:-${policy:-round-robin}} REDIS_TOPOLOGY=${REDIS_TOPOLOGY:-single} FRONT=${FRONT:-lb} (${COMPOSE[*]})"
	"${COMPOSE[@]}" "${PROFILES[@]}" up -d
	PASSWORD=$(setting AUTHLAB_SEED_PASSWORD)
	local port admin_port
	port=$(setting AUTHLAB_LB_PORT)
	admin_port=$(setting AUTHLAB_LB_ADMIN_PORT)
	wait_login "the lb" "http://127.0.0.1:${port:-8000}"
	if [ "${FRONT:-lb}" = haproxy ]; then
		local hport
		hport=$(setting AUTHLAB_HAPROXY_PORT)
		wait_login "HAProxy" "http://127.0.0.1:${hport:-8010}"
	fi
	cat <<EOF

authlab runs in containers — strategy $strategy
  lb:        http://127.0.0.1:${port:-8000}   (admin API and metrics: http://127.0.0.1:${admin_port:-8001})
  secrets:   $ENV_FILE (users user0001… with AUTHLAB_SEED_PASSWORD; admin token AUTHLAB_LB_ADMIN_TOKEN)
  gateways:  ${COMPOSE[*]} port gw1 8080   (each gateway's data port on 127.0.0.1)

  set -a; . ./$ENV_FILE; set +a
  curl -s -H "Authorization: Bearer \$AUTHLAB_LB_ADMIN_TOKEN" http://127.0.0.1:${admin_port:-8001}/_lb/instances
  docker kill \$(${COMPOSE[*]} ps -q gw2)      # a gateway crashes; ${COMPOSE[*]} start gw2 brings it back

make compose-down removes everything.
EOF
}

cmd_down() {
	compose_cmd
	# down needs no secret, but compose interpolates the file first: give
	# the missing ones a dummy value.
	local v
	for v in "${SECRETS[@]}"; do
		[ -n "$(setting "$v")" ] || export "$v=unused-by-down"
	done
	"${COMPOSE[@]}" "${ALL_PROFILES[@]}" down -v --remove-orphans -t 5
	say "removed every container, network and volume of the project"
}

# cmd_bench: the harness against the running deployment (started first
# when it is not): `authlab bench --target`, its secrets from .env through
# the environment (never argv). BENCH_ARGS adds flags (--rate, --duration,
# --users, --scenario …).
cmd_bench() {
	local strategy project lb_port admin_port
	[ -x bin/authlab ] || die "bin/authlab is missing: make build"
	cmd_up
	strategy=$(setting STRATEGY)
	strategy=${strategy:-jwt}
	# compose's own rule: COMPOSE_PROJECT_NAME (environment, then .env),
	# else the directory's name.
	project=$(setting COMPOSE_PROJECT_NAME)
	project=${project:-$(basename "$PWD" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')}
	lb_port=$(setting AUTHLAB_LB_PORT)
	admin_port=$(setting AUTHLAB_LB_ADMIN_PORT)
	say "bench against http://127.0.0.1:${lb_port:-8000} (compose project $project, STRATEGY=$strategy)"
	AUTHLAB_LB_ADMIN_TOKEN=$(setting AUTHLAB_LB_ADMIN_TOKEN) AUTHLAB_SEED_PASSWORD=$(setting AUTHLAB_SEED_PASSWORD) \
		bin/authlab bench --strategy "$strategy" \
		--target "http://127.0.0.1:${lb_port:-8000}" --target-admin "http://127.0.0.1:${admin_port:-8001}" \
		--target-compose "$project" --scenario steady,failover,redis-partition ${BENCH_ARGS:-}
}

case ${1:-} in
env) cmd_env ;;
up) cmd_up ;;
down) cmd_down ;;
bench) cmd_bench ;;
*) die "usage: deploy/compose.sh env|up|down|bench" ;;
esac
