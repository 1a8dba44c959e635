#!/usr/bin/env bash
# Keep the catalogues in step with the code: extract every marked sentence, merge it into each
# language's .po (new entries empty, vanished ones dropped), compile the .mo files the app reads.
# Translate the new entries in chatcore/i18n/locales/<language>/LC_MESSAGES/anychat.po, then run
# this again to compile. tests/test_i18n.py fails while any of this is out of date.
#
#   scripts/i18n.sh            extract, update, compile
#   scripts/i18n.sh compile    compile only
#   scripts/i18n.sh init fr    start a new language's catalogue
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
LOCALES=chatcore/i18n/locales
TEMPLATE=$LOCALES/anychat.pot

extract() {
  "$PYBABEL" extract -F babel.cfg -o "$TEMPLATE" --project=AnyChat --sort-by-file \
    --add-location=file --no-wrap -k N_ -c "Translators:" chatcore ui web app.py pages
}

case "${1:-all}" in
  compile) ;;
  init)
    extract
    "$PYBABEL" init -i "$TEMPLATE" -d "$LOCALES" -D anychat -l "$2" --no-wrap
    ;;
  all)
    extract
    "$PYBABEL" update -i "$TEMPLATE" -d "$LOCALES" -D anychat --no-wrap --no-fuzzy-matching \
      --ignore-obsolete
    ;;
  *) echo "usage: $0 [all|compile|init LANG]" >&2; exit 2 ;;
esac
"$PYBABEL" compile -d "$LOCALES" -D anychat --statistics
