#!/usr/bin/env bash
# One command for scenarios/examples/mtls.yaml: make a throwaway CA + server and client
# certificates, start the TLS test service (harness.testing.latency_target) on 127.0.0.1:$PORT
# requiring client certificates from that CA, run the scenario, then stop the service and remove
# the certificates, whatever happened. Extra arguments go to `slo-harness run`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PORT=${PORT:-8443}
certs=scenarios/examples/mtls-certs
"$PY" harness/testing/certs.py "$certs" >/dev/null
"$PY" harness/testing/latency_target.py --port "$PORT" --lifetime-s 900 \
    --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --tls-client-ca "$certs/ca.pem" \
    >/dev/null &
service=$!
cleanup() {
    kill "$service" 2>/dev/null || true
    wait "$service" 2>/dev/null || true
    rm -rf "$certs"
}
trap cleanup EXIT INT TERM
for _ in $(seq 100); do  # bounded: 10 s for the service to listen
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    kill -0 "$service" 2>/dev/null || { echo "the TLS test service did not start" >&2; exit 3; }
    sleep 0.1
done
"$PY" -m harness.cli run scenarios/examples/mtls.yaml --target "https://127.0.0.1:$PORT" "$@"
