#!/usr/bin/env bash
# The test suite starts its own PostgreSQL server (tests/fixtures/postgres.py): it needs the
# server binaries (initdb, pg_ctl, postgres). Present: nothing to do. Missing: install them
# with apt-get when we can (root, Debian/Ubuntu), else stop and say how.
set -euo pipefail
have() {
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries missing: installing them (apt-get install postgresql) for the tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    have && exit 0
fi
echo "The tests need the PostgreSQL server binaries (initdb, pg_ctl, postgres), which are not installed." >&2
echo "Install them, e.g. 'sudo apt-get install postgresql' (Debian/Ubuntu) or 'brew install postgresql' (macOS)," >&2
echo "then run 'make test' again." >&2
exit 1
