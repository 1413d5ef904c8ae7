#!/usr/bin/env bash
# serve_browser: nerve serve's page in a real browser (Debian's chromium driven by
# puppeteer-core from web/node_modules, which downloads nothing): every view of a
# small analysed run loads without console errors; the feature view's slider shows
# the stored image of that epoch (pixels against h5py); the network view's numbers
# and colours for a chosen epoch are the files' (h5py); a page opened during a
# training shows the epochs as they land, and the latency from a file landing to the
# screen is reported. Screenshots go to $BUILD/test-logs/serve-*.png.
set -u
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1; then echo "SKIP: chromium is not installed (scripts/deps.sh --test)"; exit 77; fi
if ! command -v node >/dev/null 2>&1 || [ ! -d web/node_modules/puppeteer-core ]; then
  echo "SKIP: the viewer's front end is not installed (npm missing?): make web"; exit 77
fi
exec timeout 600 node tests/integration/serve_browser.mjs
