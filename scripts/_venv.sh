# Sourced by scripts/start.sh and scripts/test.sh: make .venv and install bounty into it.
#
# ensure_venv EXTRAS -- EXTRAS is "" or "test". bounty is installed editable, so the
# code in the work tree is what runs. pip is skipped while pyproject.toml, the Python
# version and the checkout's path are the same as at the last install (stamp in .venv).

PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

ensure_venv() {
    local extras=$1 key stamp
    if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "==> creating $VENV"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    fi

    key="$(sha256sum <"$ROOT/pyproject.toml" | cut -c1-64) $("$VENV/bin/python" -V 2>&1) $ROOT"
    stamp=$VENV/.bounty-installed${extras:+-$extras}
    if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] ||
        { [ -z "$extras" ] && [ "$(cat "$VENV/.bounty-installed-test" 2>/dev/null)" = "$key" ]; }; then
        echo "==> $VENV is up to date"
        return 0
    fi

    echo "==> installing bounty${extras:+[$extras]} into $VENV"
    rm -f "$stamp"
    # pip's chatter goes to a log, shown only when it fails.
    if ! (cd "$ROOT" && "$VENV/bin/python" -m pip install -e ".${extras:+[$extras]}") \
        >"$VENV/pip-install.log" 2>&1; then
        tail -n 40 "$VENV/pip-install.log" >&2
        echo "pip install failed; the whole log is in $VENV/pip-install.log" >&2
        return 1
    fi
    echo "$key" >"$stamp"
}
