#!/usr/bin/env bash
# Stops what services-up.sh started (machine services such as PostgreSQL stay up).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -f dist/engine/cli/run.js ]; then
  node bin/sluice.js kafka down --data .cache/kafka/ci || echo "warning: could not stop Kafka (.cache/kafka/ci)" >&2
fi
exit 0
