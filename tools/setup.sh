#!/usr/bin/env bash
# Installs what the workspace needs and is missing; a fast no-op when everything is there.
# Run by `deno task setup`, which `deno task report` and `deno task test` depend on.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package -> a file that proves it is installed (checked first, so a ready machine
# never calls dpkg or apt).
declare -A probes=(
  [jupyter-notebook]=/usr/bin/jupyter-notebook
  [jupyter-nbconvert]=/usr/bin/jupyter-nbconvert
  [python3-ipykernel]=/usr/lib/python3/dist-packages/ipykernel/__init__.py
  [python3-nbclient]=/usr/lib/python3/dist-packages/nbclient/__init__.py
  [chromium]=/usr/bin/chromium
  [poppler-utils]=/usr/bin/pdftotext
  [mesa-vulkan-drivers]=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
)
missing=()
for pkg in "${!probes[@]}"; do
  [ -e "${probes[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    {
      echo "setup: missing Debian packages: ${missing[*]}"
      echo "  install them with: sudo apt-get install ${missing[*]}"
      echo "  (elsewhere: Jupyter with nbclient and ipykernel, Chromium or Chrome, poppler's"
      echo "   pdftotext/pdftoppm, and a Vulkan driver for WebGPU, e.g. Mesa's lavapipe)"
    } >&2
    exit 1
  fi
fi

# The Deno kernelspec must point at a Deno binary that still exists (npx caches move). Its
# kernel.json is read directly: Debian's Jupyter has no `jupyter kernelspec` subcommand.
deno_bin=$(deno eval --quiet 'console.log(Deno.execPath())' 2>/dev/null)
spec=""
for dir in "${JUPYTER_DATA_DIR:-}" "${XDG_DATA_HOME:-$HOME/.local/share}/jupyter" \
  /usr/local/share/jupyter /usr/share/jupyter; do
  [ -n "$dir" ] && [ -f "$dir/kernels/deno/kernel.json" ] || continue
  spec=$(deno eval --quiet '
    const spec = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
    console.log(spec.argv?.[0] ?? "");' "$dir/kernels/deno/kernel.json" 2>/dev/null || true)
  break
done
if [ -z "$spec" ] || [ ! -x "$spec" ]; then
  echo "setup: installing the Deno Jupyter kernelspec ($deno_bin)" >&2
  "$deno_bin" jupyter --install --force >&2
fi

# npm packages into node_modules/ (offline when the lock is already satisfied).
[ -d node_modules/.deno ] || deno install --quiet >&2
