#!/usr/bin/env bash
# One set-up for every entry point (npm test, npm run demo, benchmarks): system libtorch,
# npm packages, the native addon and the TypeScript build. Each step is skipped when its
# inputs have not changed, so a re-run on a built tree costs a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[setup] %s\n' "$*" >&2; }

# 1. libtorch: $LIBTORCH (an official PyTorch zip, CPU or CUDA) or the system package.
if [ -n "${LIBTORCH:-}" ]; then
  [ -f "$LIBTORCH/include/torch/csrc/api/include/torch/torch.h" ] || {
    say "LIBTORCH=$LIBTORCH does not look like a libtorch folder (no include/torch/csrc/api/include/torch/torch.h)"; exit 1; }
elif [ ! -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "libtorch not found: installing Debian's libtorch-dev (one time, ~1 min)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends libtorch-dev libopenblas0-pthread >/dev/null
  else
    say "libtorch not found. Either run as root on Debian/Ubuntu (this script then runs"
    say "'apt-get install libtorch-dev'), or download libtorch from pytorch.org, unzip it and"
    say "set LIBTORCH=/path/to/libtorch (CPU or CUDA build) before running npm again."
    exit 1
  fi
fi

# libtorch's fp32 matmuls go through the system BLAS: Debian's reference libblas runs them ~30x
# slower than OpenBLAS (7 vs 200 GFLOP/s on our 2 cores), so make sure OpenBLAS is the one linked.
if [ -z "${LIBTORCH:-}" ] && ! ls /usr/lib/x86_64-linux-gnu/openblas-*/libblas.so.3 /usr/lib/*/openblas-*/libblas.so.3 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing OpenBLAS (libtorch's fp32 matmul backend)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null; }
  else
    say "warning: OpenBLAS is not installed; fp32 training will be very slow (apt-get install libopenblas0-pthread)"
  fi
fi

# Test runs (`setup.sh --test`) also want Debian's Chromium for the trace viewer's browser test;
# without it (not root, or no apt) that one test skips with a message.
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing Chromium for the browser test (one time)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || say "warning: could not install chromium; the browser test will skip"
fi

# 2. npm packages, when package-lock.json changed since the last install.
stamp=node_modules/.gr2-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi

# 3. The native addon, when a source file is newer than the built module.
addon=native/build/Release/gr2_torch.node
if [ ! -f "$addon" ] || [ -n "$(find native -maxdepth 1 \( -name '*.cc' -o -name '*.h' -o -name 'binding.gyp' \) -newer "$addon" | head -1)" ]; then
  say "building the native addon (C++ over libtorch; ~1-2 min the first time)"
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  extra=()
  [ -f "$nodedir/include/node/node_api.h" ] && extra+=("--nodedir=$nodedir")
  (cd native && ../node_modules/.bin/node-gyp rebuild -j "$(nproc)" "${extra[@]}" >&2)
fi

# 4. TypeScript, when a .ts file is newer than the last build.
tsstamp=dist/.gr2-build-stamp
if [ ! -f "$tsstamp" ] || [ -n "$(find src test bench tsconfig.json -newer "$tsstamp" \( -name '*.ts' -o -name 'tsconfig.json' \) 2>/dev/null | head -1)" ]; then
  say "compiling TypeScript"
  node_modules/.bin/tsc -p . >&2
  mkdir -p dist && touch "$tsstamp"
fi
