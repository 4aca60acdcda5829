#!/usr/bin/env bash
# The engine benchmark beside its PyTorch peer (see bench/engine-compare.mjs). Installs the
# peer's Debian python3-torch when missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[bench] installing the PyTorch peer (Debian python3-torch)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
  else
    echo "[bench] the PyTorch peer needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1
  fi
fi
node bench/engine-compare.mjs "$@"
