#!/usr/bin/env bash
# By hand (not CI): index WARC files with pywb's own indexer (`wb-manager add`), serve them with
# pywb (`wayback`), and replay every captured URL (pywb_replay.py).
#
#   scripts/consumers/pywb.sh <pywb source dir> <warc>...
#   FILESET_CDXJ=<file> scripts/consumers/pywb.sh ...   also compare `fileset-ingest cdxj` output
#                                                         with pywb's own index of the same WARCs
#
# pywb runs from its source with Debian's /usr/bin/python3 and Debian packages (python3-gevent,
# -jinja2, -werkzeug, -redis, -fakeredis, -portalocker, -tldextract, -brotli, -webencodings,
# -ua-parser, -webassets, -dateutil, -markupsafe, -yaml, -requests, -six). Not packaged, so given
# on PYWB_PYTHONPATH as source trees: warcio (python), surt, wsgiprox; and stubs for pyamf and
# certauth, which only AMF requests and proxy mode use. wb-manager asks pkg_resources for the
# `pywb` distribution: a `pywb-<version>.dist-info/METADATA` (Name, Version) on the path answers.
# Use Debian's /usr/bin/python3 (a pyenv python3 earlier on PATH does not see the packages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(realpath "$1")
shift
warcs=()
for warc in "$@"; do warcs+=("$(realpath "$warc")"); done
work=$(mktemp -d)
port=${PYWB_PORT:-18080}
export PYTHONPATH="$src:${PYWB_PYTHONPATH:-}"
cleanup() {
  [[ -n ${server:-} ]] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
/usr/bin/python3 -m pywb.manager.manager init fileset >/dev/null 2>&1
/usr/bin/python3 -m pywb.manager.manager add fileset "${warcs[@]}" >/dev/null 2>&1
echo "pywb indexed $(wc -l < collections/fileset/indexes/index.cdxj) lines from $# WARC files"
/usr/bin/python3 -c "from pywb.apps.cli import wayback; wayback()" -p "$port" >"$work/wayback.log" 2>&1 &
server=$!
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/fileset/" >/dev/null && break
  sleep 1
done
/usr/bin/python3 "$here/pywb_replay.py" "http://127.0.0.1:$port" fileset "$work/collections/fileset" "${warcs[@]}"
