#!/usr/bin/env bash
# Starts what the test suite needs that the machine does not already run.
# PostgreSQL is started by the machine; Kafka is a local single-node broker (sluice kafka up).
# Never fails: a service that cannot start prints a warning, and the tests that need it fail with their own message.
set -uo pipefail
cd "$(dirname "$0")/.."
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi

# Kafka on 127.0.0.1:19092, data in .cache/kafka/ci (the first run downloads the broker with Maven).
if [ -f dist/engine/cli/run.js ]; then
  if ! node bin/sluice.js kafka up --port 19092 --data .cache/kafka/ci --timeout 120; then
    echo "warning: Kafka did not start on 127.0.0.1:19092; Kafka tests will fail (see .cache/kafka/ci/server.log)" >&2
  fi
else
  echo "warning: dist/ is not built (npm ci builds it), so Kafka was not started; Kafka tests will fail" >&2
fi
exit 0
