#!/usr/bin/env bash
# Make a PostgreSQL server reachable on 127.0.0.1:5432 for the tests (CI runs the PostgreSQL
# tests always): install and start it when missing, and print the URL the tests should use.
set -euo pipefail
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

url_ok() {
  .venv/bin/python - "$1" <<'PY' >/dev/null 2>&1
import sys, sqlalchemy
engine = sqlalchemy.create_engine(sys.argv[1])
with engine.connect() as conn:
    conn.execute(sqlalchemy.text("select 1"))
engine.dispose()
PY
}

for url in "${IVR_TEST_POSTGRES_URL:-}" \
           "postgresql+psycopg://postgres@127.0.0.1:5432/test" \
           "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"; do
  if [ -n "$url" ] && url_ok "$url"; then echo "$url"; exit 0; fi
done

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "Installing PostgreSQL" >&2
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
$sudo_cmd pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q && break
  sleep 1
done
# A password for TCP logins and a database for the tests (both idempotent).
$sudo_cmd su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >&2 || true
$sudo_cmd su postgres -c "createdb test" >&2 2>/dev/null || true
for url in "postgresql+psycopg://postgres@127.0.0.1:5432/test" \
           "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"; do
  if url_ok "$url"; then echo "$url"; exit 0; fi
done
echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2
exit 1
