#!/usr/bin/env bash
# Translation catalogs. The interface is written in Chinese (the msgids); the English
# catalog lives in bounty/translations/en/LC_MESSAGES/messages.po, and its compiled
# messages.mo is committed too, so running the app needs no build step.
#
#   bash scripts/i18n.sh extract   # scan bounty/**.py and templates/ into messages.pot
#   bash scripts/i18n.sh update    # extract, then merge the .pot into every .po (init if missing)
#   bash scripts/i18n.sh compile   # .po -> .mo (fuzzy entries are left out)
#   bash scripts/i18n.sh check     # list msgids still lacking an English msgstr, or fuzzy
#
# The usual round: update, translate the new/fuzzy entries in the .po (remove the
# "#, fuzzy" flag once a translation is right), compile, commit .po and .mo;
# tests/test_i18n.py fails while any interface string is untranslated.
# Python: $PYTHON, else the project's .venv, else python3 (needs Babel and Jinja2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

case "${1:-}" in
    extract | update | compile | check) ;;
    *)
        echo "usage: $0 extract|update|compile|check" >&2
        exit 2
        ;;
esac

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import babel, jinja2' 2>/dev/null; then
    echo "$PYTHON cannot import babel and jinja2; run scripts/start.sh or scripts/test.sh" \
        "once to create .venv, or set PYTHON=/path/to/venv/bin/python" >&2
    exit 1
fi
pybabel() { "$PYTHON" -m babel.messages.frontend --quiet "$@"; }

DIR=bounty/translations
POT=$DIR/messages.pot
LOCALES=(en)
# Beyond pybabel's defaults (_, gettext, ngettext, pgettext ...). tests/test_i18n.py
# reads this line, so extraction there and here cannot drift apart.
KEYWORDS=(-k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2)

extract() {
    pybabel extract -F babel.cfg "${KEYWORDS[@]}" --sort-by-file --no-wrap \
        --project=bounty -o "$POT" .
}

update() {
    extract
    local locale po
    for locale in "${LOCALES[@]}"; do
        po=$DIR/$locale/LC_MESSAGES/messages.po
        if [ -f "$po" ]; then
            cp "$po" "$po.orig"
            # --ignore-obsolete drops entries whose msgid left the code instead of
            # keeping them as #~ comments; fuzzy matching is left on as a hint.
            pybabel update -i "$POT" -d "$DIR" -l "$locale" --no-wrap --ignore-obsolete
            # Nothing but the POT-Creation-Date changed: keep the file as it was.
            if diff -q -I '^"POT-Creation-Date:' "$po.orig" "$po" >/dev/null; then
                mv "$po.orig" "$po"
            else
                rm "$po.orig"
            fi
        else
            pybabel init -i "$POT" -d "$DIR" -l "$locale" --no-wrap
        fi
    done
    check || true
}

compile() {
    # Fuzzy entries are not compiled (pybabel's default), so an unfinished
    # translation shows the Chinese original rather than a wrong guess.
    "$PYTHON" -m babel.messages.frontend compile -d "$DIR" --statistics
}

check() {
    "$PYTHON" - "$DIR" "${LOCALES[@]}" <<'PY'
import sys
from babel.messages.pofile import read_po

folder, *locales = sys.argv[1:]
missing = 0
for locale in locales:
    path = f"{folder}/{locale}/LC_MESSAGES/messages.po"
    with open(path, "rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing += 1
            flag = "fuzzy" if message.fuzzy else "empty"
            msgid = message.id[0] if isinstance(message.id, tuple) else message.id
            print(f"{path}: {flag}: {msgid}")
print(f"{missing} message(s) to translate" if missing else "all messages translated")
sys.exit(1 if missing else 0)
PY
}

"$1"
