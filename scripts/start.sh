#!/usr/bin/env bash
# Quick start, command 1: install bounty into .venv, migrate the SQLite database under
# instance/, load the demo data and serve the platform at http://127.0.0.1:5000.
# Safe to run again: the install is skipped when nothing changed, migrations and demo
# data are idempotent.
#
#   BOUNTY_HOST / BOUNTY_PORT   where to listen (127.0.0.1:5000)
#   PUBLIC_URL                  the address in email links (default: http://BOUNTY_HOST:BOUNTY_PORT)
#   MAIL_SERVER / MAIL_PORT     SMTP for emails; unset, every email is printed here instead
#   BOUNTY_INSTANCE             instance folder (./instance): SQLite file, index, uploads
#   DATABASE_URL                use this database instead of the SQLite file
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/_venv.sh
. "$ROOT/scripts/_venv.sh"

ensure_venv ""

export BOUNTY_INSTANCE=${BOUNTY_INSTANCE:-$ROOT/instance}
mkdir -p "$BOUNTY_INSTANCE"

host=${BOUNTY_HOST:-127.0.0.1}
port=${BOUNTY_PORT:-5000}
# The address in email links: this host and port unless PUBLIC_URL is set (e.g. behind a
# proxy). Set before `bounty demo`, whose challenges' notifications are written (links
# and all) before the server starts; `bounty serve` prints it in its banner.
if [ -z "${PUBLIC_URL:-}" ]; then
    PUBLIC_URL=$("$VENV/bin/python" -c 'import sys; from bounty.cli import served_url
print(served_url(sys.argv[1], int(sys.argv[2])))' "$host" "$port")
fi
export PUBLIC_URL

echo "==> bounty db upgrade"
"$VENV/bin/bounty" db upgrade
echo "==> bounty demo"
"$VENV/bin/bounty" demo

# --demo: the demo logins (with their published password) are expected here; a
# production instance is set up with `bounty init` instead (README "Production")
echo "==> bounty serve --demo --host $host --port $port"
exec "$VENV/bin/bounty" serve --demo --host "$host" --port "$port"
