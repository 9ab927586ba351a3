#!/usr/bin/env bash
# Starts what the test suite needs that the machine does not already run.
# PostgreSQL is started by the machine; Kafka joins here with the Kafka issue.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
exit 0
