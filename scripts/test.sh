#!/usr/bin/env bash
# Quick start, command 2: install what the tests need and run the whole suite twice,
# on SQLite and on a throwaway PostgreSQL server. Extra arguments go to pytest.
#
# As root it apt-get installs Debian's postgresql, chromium and a CJK font (skipped when
# they are there). Elsewhere, missing components make their tests skip with a reason,
# except under CI=true, where a missing component is an error.
#
#   bash scripts/test.sh                       # everything
#   bash scripts/test.sh -x tests/accounts     # pytest options and paths
#   BOUNTY_TEST_SKIP_POSTGRES=1 bash scripts/test.sh   # SQLite run only (not under CI)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/_venv.sh
. "$ROOT/scripts/_venv.sh"

APT_PACKAGES=(postgresql chromium)
CJK_FONTS=(fonts-noto-cjk fonts-wqy-zenhei) # either will do; the first is installed
CHROMIUM=${BOUNTY_CHROMIUM:-/usr/bin/chromium} # tests/browser/conftest.py reads it too

is_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }
say() { printf '\n==> %s\n' "$*"; }
warn() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
    warn "$*"
    exit 1
}
# A component is missing: fatal under CI, a warning elsewhere.
missing() {
    if is_ci; then die "$* (CI=true: every component must be present)"; fi
    warn "$* -- its tests will be skipped"
}
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# ---------------------------------------------------------------- system packages
apt_install() {
    local wanted=() font_ok=false p t0
    for p in "${APT_PACKAGES[@]}"; do installed "$p" || wanted+=("$p"); done
    for p in "${CJK_FONTS[@]}"; do installed "$p" && font_ok=true; done
    $font_ok || wanted+=("${CJK_FONTS[0]}")
    if [ ${#wanted[@]} -eq 0 ]; then
        say "system packages already installed (${APT_PACKAGES[*]}, CJK font)"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        missing "not root (or no apt-get): cannot install ${wanted[*]}"
        return 0
    fi
    say "apt-get install ${wanted[*]}"
    t0=$(now)
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confold)
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/bounty-apt.XXXXXX")
    if ! { "${apt[@]}" update >"$log" 2>&1 || { sleep 5 && "${apt[@]}" update >"$log" 2>&1; }; } ||
        ! "${apt[@]}" install --no-install-recommends "${wanted[@]}" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2 || true
        rm -f "$log"
        missing "apt-get could not install ${wanted[*]}"
        return 0
    fi
    rm -f "$log"
    echo "    done in $(since "$t0")"
}

# ---------------------------------------------------------------- PostgreSQL
PG_DIR=""
PG_PORT=""
PG_BIN=""
PG_STARTED=false

as_postgres() {
    # initdb refuses to run as root; the server runs as the postgres user there.
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$PG_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$PG_DIR" && "$@")
    fi
}

free_port() {
    "$VENV/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_start() {
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
        missing "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
        return 1
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        missing "there is no postgres user to run the server as"
        return 1
    fi
    local t0 try
    t0=$(now)
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bounty-pg.XXXXXX")
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; fi
    say "starting a throwaway PostgreSQL ($PG_BIN) in $PG_DIR"
    if ! as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale \
        >"$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        die "initdb failed"
    fi
    for try in 1 2 3; do
        PG_PORT=$(free_port)
        # Durability is not wanted for a throwaway test server; speed is.
        if as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 -s \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" start; then
            PG_STARTED=true
            break
        fi
        warn "PostgreSQL did not start on port $PG_PORT (try $try)"
        tail -n 20 "$PG_DIR/server.log" >&2 || true
    done
    $PG_STARTED || die "could not start PostgreSQL"
    as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres -E UTF8 -T template0 bounty_test ||
        die "createdb failed"
    echo "    listening on 127.0.0.1:$PG_PORT, database bounty_test ($(since "$t0"))"
}

pg_stop() {
    [ -n "$PG_DIR" ] || return 0
    if $PG_STARTED; then
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -s -m fast -t 30 stop >/dev/null 2>&1 ||
            as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -s -m immediate stop >/dev/null 2>&1 || true
        PG_STARTED=false
    fi
    rm -rf "$PG_DIR"
    echo "==> PostgreSQL stopped and $PG_DIR removed"
    PG_DIR=""
}

cleanup() {
    pg_stop
    rm -f "${RUN_LOG:-}"
}
trap cleanup EXIT
trap 'echo; warn "interrupted"; exit 130' INT
trap 'warn "terminated"; exit 143' TERM

# ---------------------------------------------------------------- pytest
SUMMARY=()
FAILED=false
N_PASSED=0
N_FAILED=0
N_SKIPPED=0
RUN_LOG=$(mktemp "${TMPDIR:-/tmp}/bounty-pytest.XXXXXX")

# Add up the counts on pytest's closing line ("3 failed, 40 passed, 1 skipped in 9.1s").
count_results() {
    local line n
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$1" |
        grep -E '^=* ?[0-9]+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)' |
        tail -n 1 || true)
    for kind in passed failed skipped error errors; do
        n=$(grep -oE "[0-9]+ $kind\b" <<<"$line" | grep -oE '^[0-9]+' || echo 0)
        case $kind in
        passed) N_PASSED=$((N_PASSED + n)) ;;
        failed | error | errors) N_FAILED=$((N_FAILED + n)) ;;
        skipped) N_SKIPPED=$((N_SKIPPED + n)) ;;
        esac
    done
}

run_suite() { # NAME [VAR=VALUE...] -- PYTEST_ARGS...
    local name=$1 t0 rc status
    shift
    local envs=()
    while [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    say "pytest on $name"
    t0=$(now)
    set +e
    local args=() arg
    for arg in "$@"; do # -q is ours already: -qq would drop the closing line we count
        [ "$arg" = -q ] || args+=("$arg")
    done
    env -u BOUNTY_TEST_DATABASE_URL "${envs[@]}" "$VENV/bin/python" -m pytest -q -ra "${args[@]}" 2>&1 |
        tee -i "$RUN_LOG"
    rc=${PIPESTATUS[0]}
    set -e
    count_results "$RUN_LOG"
    case $rc in
    0) status="passed" ;;
    5) status="FAILED: no tests were collected (exit 5)" ;;
    *) status="FAILED (pytest exit $rc)" ;;
    esac
    [ "$rc" -eq 0 ] || FAILED=true
    SUMMARY+=("$(printf '  %-11s %-42s %s' "$name" "$status" "$(since "$t0")")")
}

# ---------------------------------------------------------------- main
T_START=$(now)
apt_install
t0=$(now)
ensure_venv test
echo "    ($(since "$t0"))"
[ -x "$CHROMIUM" ] || missing "$CHROMIUM not found (Debian package chromium)"
mkdir -p "$ROOT/test-artifacts"

run_suite sqlite -- "$@"

if [ -n "${BOUNTY_TEST_SKIP_POSTGRES:-}" ] && ! is_ci; then
    SUMMARY+=("  postgresql  skipped (BOUNTY_TEST_SKIP_POSTGRES is set)")
elif pg_start; then
    run_suite postgresql \
        "BOUNTY_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/bounty_test" -- "$@"
    pg_stop
else
    SUMMARY+=("  postgresql  skipped (no PostgreSQL server here)")
fi

say "summary (total $(since "$T_START"))"
printf '%s\n' "${SUMMARY[@]}"
echo "total: $N_PASSED passed, $N_FAILED failed, $N_SKIPPED skipped"
if $FAILED; then
    echo "test.sh: FAILED" >&2
    exit 1
fi
echo "test.sh: all runs passed"
