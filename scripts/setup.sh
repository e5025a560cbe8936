#!/usr/bin/env bash
# Installs the system packages Sluice needs, only those that are missing, so a second run is a no-op.
# Needs: pkg-config, libpq-dev, libyaml-dev (build), the PostgreSQL server (the embedded database), and strace
# (tests).
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
pkg-config --exists yaml-0.1 2>/dev/null || missing+=(libyaml-dev)
if [ -z "${SLUICE_PG_BINDIR:-}" ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v make >/dev/null 2>&1 || missing+=(make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The test that counts WAL flushes per step counts the engine's backend's fdatasync calls with strace.
command -v strace >/dev/null 2>&1 || missing+=(strace)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  # Sluice runs its own private cluster; don't let the package create and start a system-wide one.
  if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $sudo mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# The schema test checks docs/sluice-dag.schema.json with a real JSON Schema validator (draft 2020-12).
if ! python3 -c 'from jsonschema import Draft202012Validator' >/dev/null 2>&1; then
  echo "setup: installing the Python jsonschema package"
  if ! python3 -m pip install --quiet 'jsonschema>=4.0' 2>/dev/null \
    && ! python3 -m pip install --quiet --break-system-packages 'jsonschema>=4.0' 2>/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-jsonschema
  fi
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: the Swift toolchain (swift 6) is not on PATH" >&2
  exit 1
fi
