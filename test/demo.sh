#!/usr/bin/env bash
# The demo: brings up the real-OVN sandbox on this machine, attaches two
# pods through OVN and checks ping and TCP between them. Needs root (network
# namespaces) and `make deps`.
#
# Arguments, and the words of $DEMO_ARGS before them, go to
# ovn-dpu-sandbox: `./test/demo.sh --clustered` or
# `DEMO_ARGS=--clustered make demo` runs OVN NB and SB as RAFT clusters;
# --keep leaves the sandbox up until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086 # DEMO_ARGS is a list of words
exec go run ./test/cmd/ovn-dpu-sandbox ${DEMO_ARGS:-} "$@"
