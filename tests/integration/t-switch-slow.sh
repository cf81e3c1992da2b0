#!/usr/bin/env bash
# t-switch-lua.sh for an app that listens 2 s after it starts (as Medusa
# does once its modules load): the same deploys, reload and rollback
# under the same three clients, 0 failed requests.
BIND_DELAY_MS=2000 exec bash "$(dirname "$0")/t-switch-lua.sh"
