#!/usr/bin/env bash
# Database size at 100,000 terminals after a simulated year of daily reports, then what one
# retention run (the defaults: reports 90 days, the newest per terminal always; removed
# holdings and alert history 365 days) deletes and how long it takes (BENCHMARKS.md,
# "Retention"). Needs an empty PostgreSQL database, psql, and the debug or release
# certfleet-collector (CERTFLEET_COLLECTOR, default $CARGO_TARGET_DIR/debug/...):
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:55433/year store/examples/bench_retention.sh
#
# DAYS (default 365) shortens the simulated year, REPORTS_DAYS (default 90, at least 7) is the
# retention of reports for the run at the end. The full year needs about 15 GB of free disk
# (12–13 GB of database, plus WAL: give the cluster a small max_wal_size).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to an empty PostgreSQL database}"
DAYS=${DAYS:-365}
REPORTS_DAYS=${REPORTS_DAYS:-90}
config=$(mktemp --suffix=.toml)
trap 'rm -f "$config"' EXIT
printf 'database_url = "%s"\n[retention]\nreports_days = %s\n' "$DATABASE_URL" "$REPORTS_DAYS" > "$config"
COLLECTOR=${CERTFLEET_COLLECTOR:-${CARGO_TARGET_DIR:-target}/debug/certfleet-collector}
psql() { command psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"; }
sizes() {
  psql -At -F ' ' -c "
    SELECT 'database', pg_size_pretty(pg_database_size(current_database())),
           pg_database_size(current_database())
    UNION ALL
    SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)), pg_total_relation_size(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r'
      AND pg_total_relation_size(c.oid) > 1024 * 1024
    ORDER BY 3 DESC"
  psql -At -c "SELECT 'rows: reports ' || (SELECT count(*) FROM reports)
    || ', holdings ' || (SELECT count(*) FROM holdings)
    || ' (removed ' || (SELECT count(*) FROM holdings WHERE removed_at IS NOT NULL)
    || '), certificates ' || (SELECT count(*) FROM certificates)"
}
t() { local s=$SECONDS; "$@"; echo "   ($((SECONDS - s)) s)"; }

echo "== schema and the report benchmark's fleet (store/examples/gen_fleet.sql)"
t "$COLLECTOR" --database-url "$DATABASE_URL" migrate
t psql -1 -f store/examples/gen_fleet.sql
echo "== a year of renewals (removed holdings), then $DAYS days of daily reports, a month at a time"
t psql -v first_day=0 -v last_day=0 -v history=1 -f store/examples/gen_year.sql
for ((first = DAYS - 1; first >= 0; first -= 30)); do
  last=$((first - 29 < 0 ? 0 : first - 29))
  echo "   days $first..$last before now"
  t psql -v first_day=$first -v last_day=$last -v history=0 -f store/examples/gen_year.sql
done
t psql -c "VACUUM ANALYZE"
echo "== after a year without retention"
sizes
echo "== retention run --dry-run, then retention run (reports_days = $REPORTS_DAYS, other defaults)"
t "$COLLECTOR" --config "$config" retention run --dry-run
t "$COLLECTOR" --config "$config" retention run
echo "== after the run (PostgreSQL keeps the files; the space is reused by new rows)"
t psql -c "VACUUM ANALYZE"
sizes
echo "== after VACUUM FULL (the size a database kept by retention settles at)"
t psql -c "VACUUM FULL"
sizes
