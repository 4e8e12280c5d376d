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

# The Deno kernelspec must point at a Deno binary that still exists (npx caches move).
deno_bin=$(deno eval --quiet 'console.log(Deno.execPath())' 2>/dev/null)
spec=$(jupyter kernelspec list --json 2>/dev/null | deno eval --quiet '
  const specs = JSON.parse(await new Response(Deno.stdin.readable).text()).kernelspecs;
  console.log(specs.deno?.spec?.argv?.[0] ?? "");' 2>/dev/null || true)
if [ -z "$spec" ] || [ ! -x "$spec" ]; then
  echo "setup: installing the Deno Jupyter kernelspec ($deno_bin)" >&2
  "$deno_bin" jupyter --install --force >&2
fi

# npm packages into node_modules/ (offline when the lock is already satisfied).
[ -d node_modules/.deno ] || deno install --quiet >&2
