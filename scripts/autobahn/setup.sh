#!/usr/bin/env bash
# Makes .autobahn/venv, the Python 2.7 virtualenv with the Autobahn|Testsuite
# (scripts/autobahn/requirements.txt), unless it is there and up to date.
# Python 2.7: $PYTHON27, or pyenv's 2.7.18. virtualenv 20.22 dropped Python 2,
# so an older one runs from a small Python 3 venv to make it.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=.autobahn
requirements=scripts/autobahn/requirements.txt
stamp=$dir/venv/requirements.txt
if [ -x "$dir/venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi

python27=${PYTHON27:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/2.7.18/bin/python}
if [ ! -x "$python27" ]; then
  echo "autobahn: no Python 2.7 at $python27 (set PYTHON27)" >&2
  exit 1
fi

echo "autobahn: making $dir/venv (Python 2.7, autobahntestsuite)"
rm -rf "$dir/venv" "$dir/bootstrap"
mkdir -p "$dir"
python3 -m venv "$dir/bootstrap"
"$dir/bootstrap/bin/pip" install --quiet --disable-pip-version-check 'virtualenv<20.22'
"$dir/bootstrap/bin/virtualenv" --quiet -p "$python27" "$dir/venv"
"$dir/venv/bin/pip" install --quiet --disable-pip-version-check --no-python-version-warning \
  -r "$requirements"
cp "$requirements" "$stamp"
