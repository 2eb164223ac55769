#!/usr/bin/env bash
# Install the system programs some tests need: redis-server (feature store), wrk (benchmarks),
# nftables (network faults), chromium (HTML report check), stress-ng (CPU hog fault; without it
# the hog falls back to a Python busy loop), the Java reference HdrHistogram (libhdrhistogram-java
# with a JRE: the third-party reader of latency.hlog; a Maven 2.2.2 jar in ~/.m2 does as well). Needs root and Debian's apt; without
# them it says so and the tests that need a missing program skip with that reason.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v wrk >/dev/null || need+=(wrk)
command -v nft >/dev/null || need+=(nftables)
command -v chromium >/dev/null || need+=(chromium)
command -v stress-ng >/dev/null || need+=(stress-ng)
hdr_jar="$HOME/.m2/repository/org/hdrhistogram/HdrHistogram/2.2.2/HdrHistogram-2.2.2.jar"
if [ ! -f "$hdr_jar" ] && [ ! -f /usr/share/java/HdrHistogram.jar ]; then
  need+=(libhdrhistogram-java)
fi
command -v java >/dev/null || need+=(default-jre-headless)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-deps: not root or no apt-get; missing: ${need[*]} (tests needing them will skip)" >&2
  exit 0
fi
echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
