#!/bin/sh
# The redis-ready gate of docker-compose.yml: exits 0 once the Redis that
# REDIS_URL names serves, so the gateways (which stop at start-up when their
# store does not answer) start after it, whichever topology it is. It runs
# in the Redis image, the real one or its stand-in, so it uses only sh
# built-ins, sleep and redis-cli.
#
#   redis://[:pass@]host[:port][/db]      PING answers PONG
#   redis+cluster://h1:p1,h2:p2,…         h1 reports cluster_state:ok
#   redis+sentinel://h1:p1,…/master       h1 names the master, which says it is one
#
# It gives up after REDIS_READY_TIMEOUT seconds (default 120), saying what
# it waited for: typically a cluster or sentinel URL whose profile is off.
set -u
url=${REDIS_URL:-redis://redis:6379}
limit=${REDIS_READY_TIMEOUT:-120}

scheme=${url%%://*}
rest=${url#*://}
auth=""
case $rest in *@*) auth=${rest%%@*}; rest=${rest#*@} ;; esac
pass=""
case $auth in *:*) pass=${auth#*:} ;; esac
# Never print a password.
if [ -n "$auth" ]; then shown="$scheme://***@$rest"; else shown=$url; fi

first=${rest%%[,/]*}
host=${first%:*}
port=${first##*:}
[ "$host" = "$first" ] && port=6379

# cli HOST PORT ARGS…: redis-cli, with the password (if any) from the
# environment rather than the arguments.
cli() {
	h=$1 p=$2
	shift 2
	tls=""
	[ "$scheme" = rediss ] && tls=--tls
	if [ -n "$pass" ]; then
		REDISCLI_AUTH=$pass redis-cli $tls --no-auth-warning -h "$h" -p "$p" "$@"
	else
		redis-cli $tls -h "$h" -p "$p" "$@"
	fi
}

check() {
	case $scheme in
	redis+cluster)
		case $(cli "$host" "$port" cluster info 2>&1) in
		*cluster_state:ok*) return 0 ;;
		esac
		;;
	redis+sentinel)
		master=${rest#*/}
		master=${master%%/*}
		# shellcheck disable=SC2046 # two words: host and port
		set -- $(cli "$host" "$port" sentinel get-master-addr-by-name "$master" 2>/dev/null)
		[ $# -eq 2 ] || return 1
		case $(cli "$1" "$2" role 2>&1) in
		master*) return 0 ;;
		esac
		;;
	redis | rediss)
		[ "$(cli "$host" "$port" ping 2>&1)" = PONG ] && return 0
		;;
	*)
		echo "redis-ready: REDIS_URL $shown: unknown scheme $scheme" >&2
		exit 2
		;;
	esac
	return 1
}

waited=0
until check; do
	if [ "$waited" -ge "$limit" ]; then
		echo "redis-ready: $shown did not serve within ${limit}s; for a cluster or sentinel URL, is its compose profile on (--profile cluster / --profile sentinel)?" >&2
		exit 1
	fi
	sleep 1
	waited=$((waited + 1))
done
echo "redis-ready: $shown serves (after ~${waited}s)"
