#!/usr/bin/env python3
"""By hand (not CI): fatcat's own dataset importers on our result lines.

Runs IngestFilesetResultImporter and IngestFilesetFileResultImporter (want + parse_record) from
fatcat's source (internetarchive/fatcat, python/fatcat_tools/importers/ingest.py) with its
generated API client (python_openapi_client/, whose models raise ValueError on missing fields) on
every line of a results file, and prints per line what the importer did: skipped (and why),
imported (with every URL it built), or the exception it raised. The fatcat API is stubbed: a
request names its release by fatcat.release_ident, so no lookup is made.

Usage: python3 scripts/consumers/fatcat.py <fatcat git dir or checkout> <results.jsonl>
The git dir may be a bare mirror (fetched with the project's tooling); the files are read with
`git show HEAD:<path>`. Needs Debian's python3 with python3-six, python3-dateutil, python3-urllib3,
python3-certifi (what the API client imports).
"""
import collections
import json
import os
import subprocess
import sys
import tempfile
import traceback


def checkout(repo, dest):
    """The importer and the API client, from a checkout or a bare git dir."""
    paths = ["python/fatcat_tools/importers/ingest.py"]
    listing = subprocess.run(
        ["git", f"--git-dir={repo}", "ls-tree", "-r", "--name-only", "HEAD", "python_openapi_client/fatcat_openapi_client"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    for path in paths + listing:
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(subprocess.run(["git", f"--git-dir={repo}", "show", f"HEAD:{path}"], capture_output=True, check=True).stdout)
    # fatcat_tools/importers/__init__.py imports every importer (and their dependencies): only
    # ingest.py is loaded, with the three names it takes from common.py stubbed below.
    pkg = os.path.join(dest, "python", "fatcat_tools")
    open(os.path.join(pkg, "__init__.py"), "w").close()
    open(os.path.join(pkg, "importers", "__init__.py"), "w").close()
    with open(os.path.join(pkg, "importers", "common.py"), "w") as out:
        out.write(
            "import collections\n"
            "class EntityImporter:\n"
            "    def __init__(self, api, **kwargs):\n"
            "        self.api = api\n"
            "        self.counts = collections.Counter()\n"
            "        self.bezerk_mode = kwargs.get('bezerk_mode', False)\n"
            "        self.submit_mode = kwargs.get('submit_mode', False)\n"
            "        self.editgroup_description = kwargs.get('editgroup_description')\n"
            "        self.editgroup_extra = kwargs.get('editgroup_extra')\n"
            "        self._entity_queue = []\n"
            "def filesets_very_similar(a, b):\n"
            "    return False\n"
            "def make_rel_url(url, rel):\n"
            "    return (rel, url)\n"
        )
    sys.path[:0] = [os.path.join(dest, "python"), os.path.join(dest, "python_openapi_client")]


def urls_of(entity):
    urls = [f"{u.rel} {u.url}" for u in entity.urls or []]
    for f in getattr(entity, "manifest", None) or []:
        for key, value in (f.extra or {}).items():
            urls.append(f"{key} {value}")
    return urls


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    repo, results = sys.argv[1], sys.argv[2]
    if os.path.isdir(os.path.join(repo, ".git")):
        repo = os.path.join(repo, ".git")
    with tempfile.TemporaryDirectory() as dest:
        checkout(repo, dest)
        from fatcat_tools.importers.ingest import IngestFilesetFileResultImporter, IngestFilesetResultImporter

        importers = [IngestFilesetResultImporter(None), IngestFilesetFileResultImporter(None)]
        tally = collections.Counter()
        for number, line in enumerate(open(results), 1):
            row = json.loads(line)
            label = f"line {number}: {row.get('status')} {row.get('ingest_strategy')} {row.get('platform_name')}"
            for importer in importers:
                name = type(importer).__name__
                try:
                    if not importer.want(json.loads(line)):
                        tally[f"{name} not wanted"] += 1
                        continue
                    entity = importer.parse_record(json.loads(line))
                except Exception as err:  # what would stop fatcat's Kafka importer
                    tally[f"{name} RAISED"] += 1
                    print(f"{label}: {name} raised {type(err).__name__}: {err}")
                    traceback.print_exc(limit=1, file=sys.stderr)
                    continue
                if entity is None:
                    tally[f"{name} skipped"] += 1
                    print(f"{label}: {name} skipped ({dict(importer.counts)})")
                    continue
                tally[f"{name} imported"] += 1
                print(f"{label}: {name} imported")
                for url in urls_of(entity):
                    print(f"    {url}")
        print(json.dumps(dict(sorted(tally.items()))))
        return 1 if any(k.endswith("RAISED") for k in tally) else 0


if __name__ == "__main__":
    sys.exit(main())
