#!/usr/bin/env bash
# Installs what handoff's tests and demo need from Debian's packages when it is
# missing: Java 17+ and Maven (to fetch and run Apache Kafka's jars), the
# PostgreSQL server binaries (the suite runs its own throwaway cluster) and, for
# the tests (--with-postgres, as `make test` passes), Prometheus: its `prometheus`
# server and `promtool` (rule checks and rule unit tests) from Debian's package.
# Grafana is not in Debian's archive: the dashboards are validated against its
# schema instead (tests/unit/deploy/test_grafana_dashboards.py). The dashboard's
# browser tests (--with-postgres) drive Debian's `chromium` with Playwright
# (executable_path: Playwright does not download its own browsers here).
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ "${1:-}" = "--with-postgres" ] && [ -z "${HANDOFF_TEST_DATABASE_URL:-}" ] \
   && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${HANDOFF_PG_BINDIR:-}" ]; then
  need+=(postgresql)
fi
if [ "${1:-}" = "--with-postgres" ] && ! command -v promtool >/dev/null 2>&1; then
  need+=(prometheus)
fi
if [ "${1:-}" = "--with-postgres" ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
# a Japanese font, so the Japanese pages' screenshots show text rather than empty boxes
if [ "${1:-}" = "--with-postgres" ] && ! fc-list 2>/dev/null | grep -qi "IPAGothic"; then
  need+=(fonts-ipafont-gothic)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
else
  sudo_cmd=()
fi
echo "installing from Debian's packages: ${need[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
# The Debian packages start a PostgreSQL cluster on 5432 and a Prometheus on
# 9090 (where systemd runs); the suite starts its own on free ports, so leave
# the system ones alone.
