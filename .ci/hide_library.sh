#!/usr/bin/env bash
# hide_library.sh LIBRARY COMMAND...: runs COMMAND where LIBRARY is an empty file
# (bind-mounted in a private mount namespace: the rest of the machine is untouched),
# as on a slim image without it. Needs root (CI runs as root).
set -euo pipefail
library="$(readlink -f "$1")"
shift
empty="$(mktemp)"
exec unshare --mount --propagation private \
  bash -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$empty" "$library" "$@"
