#!/usr/bin/env bash
# The demo: brings up the real-OVN sandbox on this machine, attaches two
# pods through OVN and checks ping and TCP between them. Needs root (network
# namespaces) and `make deps`.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./test/cmd/ovn-dpu-sandbox "$@"
