#!/usr/bin/env bash
# Stops what services-up.sh started (nothing yet beyond machine services, which stay up).
exit 0
