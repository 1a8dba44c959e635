#!/usr/bin/env bash
# Install AnyChat's dependencies, then AnyChat itself (editable), into .venv.
# `install.sh dev` adds test tools, Chromium and PostgreSQL. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-runtime}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "AnyChat needs Python 3.11 or newer (found $("$python" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi

requirements=requirements.txt
[ "$mode" = dev ] && requirements=requirements-dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
# AnyChat's own packages (chatcore, storage, ui, web), editable: imports resolve to this folder,
# so `streamlit run server.py`, pytest and bench/ import them with no sys.path patch.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

if [ "$mode" = dev ]; then
  # Browser tests drive Debian's Chromium (Playwright's own browser download is not used);
  # storage tests also run on a throwaway PostgreSQL cluster started from Debian's server.
  # A CJK font, so that Chinese pages render (and are screenshot) as text, not empty boxes;
  # the app itself names no font a reader's machine may lack.
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  compgen -G "/usr/share/fonts/opentype/noto/NotoSansCJK*" >/dev/null || missing+=(fonts-noto-cjk)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
