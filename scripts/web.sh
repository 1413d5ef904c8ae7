#!/usr/bin/env bash
# web.sh: installs the viewer's front end (`nerve serve`'s page): d3 and uPlot, and
# puppeteer-core for the browser tests, into web/node_modules from the pinned
# web/package-lock.json with `npm ci --ignore-scripts` (no install scripts run, no
# browser is downloaded: the tests drive Debian's chromium). After that nothing is
# fetched: the page loads only files nerve serve hands out, so it works on a
# cluster node without internet.
#
# npm: the one on PATH when there is one (a machine with NodeSource's nodejs has its
# own), else Debian's `npm` package (as root). Never fails the build: without npm
# it prints a note, `nerve serve` answers a page that says how to install the front
# end, and the browser tests skip with a line saying why.
set -u
cd "$(dirname "$0")/../web" || exit 0
stamp=node_modules/.nerve-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ -f node_modules/d3/dist/d3.min.js ] &&
   [ -f node_modules/uplot/dist/uPlot.iife.min.js ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 &&
   command -v node >/dev/null 2>&1; then
  echo "nerve: installing Debian's npm for the viewer's front end"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq npm >/tmp/nerve-apt-npm.log 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq npm >>/tmp/nerve-apt-npm.log 2>&1; } ||
    echo "nerve: note: apt-get install npm failed (log: /tmp/nerve-apt-npm.log)" >&2
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "nerve: note: npm is not installed, so nerve serve's page is not (it says how: apt-get install npm; make web)" >&2
  exit 0
fi
if npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/tmp/nerve-npm.log 2>&1; then
  touch "$stamp"
  echo "nerve: viewer front end installed (web/node_modules: d3 $(node -p 'require("./node_modules/d3/package.json").version' 2>/dev/null), uPlot $(node -p 'require("./node_modules/uplot/package.json").version' 2>/dev/null))"
else
  tail -5 /tmp/nerve-npm.log >&2
  echo "nerve: note: npm ci failed in web/ (log: /tmp/nerve-npm.log); nerve serve's page says how to install it" >&2
fi
exit 0
