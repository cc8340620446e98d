#!/usr/bin/env python3
"""By hand (not CI): does pywb replay every captured URL of our WARCs as it was recorded?

Reads the WARC files with (python) warcio, then asks a running pywb (`wayback`, whose collection
was filled with `wb-manager add`, i.e. indexed by pywb's own indexer) for every response and
revisit record in raw mode (`/<coll>/<14-digit time>id_/<url>`), and compares the status code and
the payload (a revisit's is its original's) with what the WARC holds. It also reads pywb's index
of the collection and reports any line that is not a capture of ours (a note indexed under an
http URL would be one).

With FILESET_CDXJ set to a file of `fileset-ingest cdxj` output for the same WARCs, it also
compares that export with pywb's own index, line by line (urlkey, timestamp, JSON fields).

Usage: python3 scripts/consumers/pywb_replay.py <pywb base URL> <collection> <collection dir> <warc>...
"""
import glob
import hashlib
import json
import os
import sys
import urllib.request

from warcio.archiveiterator import ArchiveIterator


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def captures(paths):
    """(url, 14-digit time, status, payload sha1) of every response and revisit record."""
    payloads = {}
    found = []
    for path in paths:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                kind = record.rec_type
                if kind not in ("response", "revisit"):
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                date = record.rec_headers.get_header("WARC-Date")
                ts = "".join(ch for ch in date if ch.isdigit())[:14]
                status = int(record.http_headers.get_statuscode())
                body = record.content_stream().read() if kind == "response" else None
                digest = record.rec_headers.get_header("WARC-Payload-Digest")
                if body is not None:
                    payloads[digest] = hashlib.sha1(body).hexdigest()
                found.append((url, ts, status, digest, kind))
    return [(url, ts, status, payloads.get(digest), kind) for url, ts, status, digest, kind in found]


def cdxj(path):
    lines = []
    for line in open(path):
        urlkey, timestamp, fields = line.rstrip("\n").split(" ", 2)
        lines.append((urlkey, timestamp, json.loads(fields)))
    return lines


def compare_cdxj(ours_path, coll_dir):
    """Lines of our export that differ from pywb's index of the same WARCs (0 when equal)."""
    theirs = []
    for index in sorted(glob.glob(os.path.join(coll_dir, "indexes", "*.cdxj"))):
        theirs += cdxj(index)
    ours = cdxj(ours_path)
    differ = abs(len(ours) - len(theirs))
    for mine, pywb in zip(ours, theirs):
        if mine != pywb:
            differ += 1
            print(f"CDXJ DIFFERS\n  pywb: {pywb}\n  ours: {mine}")
    print(f"CDXJ: {len(ours)} lines of ours, {len(theirs)} of pywb's index, {differ} differ")
    return differ


def main():
    if len(sys.argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    base, coll, coll_dir, paths = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    opener = urllib.request.build_opener(NoRedirect)
    good = bad = 0
    for url, ts, status, sha1, kind in captures(paths):
        try:
            response = opener.open(f"{base}/{coll}/{ts}id_/{url}")
            got_status, body = response.status, response.read()
        except urllib.error.HTTPError as err:
            got_status, body = err.code, err.read()
        got = hashlib.sha1(body).hexdigest()
        # A revisit's payload is its original's; a 3xx may carry a body of its own.
        ok = got_status == status and (sha1 is None or got == sha1)
        good += ok
        bad += not ok
        print(f"{'ok  ' if ok else 'BAD '} {kind:8} {status} -> {got_status} {ts} {url}" + ("" if ok else f" (sha1 {got} != {sha1})"))
    foreign = 0
    for index in glob.glob(os.path.join(coll_dir, "indexes", "*.cdxj")):
        for line in open(index):
            fields = json.loads(line.split(" ", 2)[2])
            if not fields.get("url", "").startswith(("http://", "https://")) or fields.get("mime") == "application/warc-fields":
                foreign += 1
                print(f"NOT A CAPTURE in pywb's index: {line.strip()}")
    differ = compare_cdxj(os.environ["FILESET_CDXJ"], coll_dir) if os.environ.get("FILESET_CDXJ") else 0
    print(json.dumps({"replayed_as_recorded": good, "wrong": bad, "non_capture_index_lines": foreign, "cdxj_lines_differing": differ}))
    return 1 if bad or foreign or differ else 0


if __name__ == "__main__":
    sys.exit(main())
