#!/usr/bin/env bash
# The demo: brings up the real-OVN sandbox on this machine and attaches two
# pods through OVN. Needs root (network namespaces) and `make deps`.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./test/cmd/ovn-dpu-sandbox "$@"
