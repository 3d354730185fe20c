"""Keep the plugin definitions, meltano.yml and README.md true to the plugins' `--about`:

- `plugins/extractors/tap-primedata.yml`, `plugins/loaders/target-cdp.yml`: the Meltano Hub
  definitions (`meltano add --from-ref`), generated from `<plugin> --about --format=json`;
- `meltano.yml`: each base plugin carries the same definition (with `pip_url: -e .`); compared
  as data, not text, so a `meltano config set` that reformats the file changes nothing here;
- `README.md`: `--about --format=markdown` between its `<!-- about:tap -->` /
  `<!-- about:target -->` markers, except the target's route types and options (its section
  under `ROUTES_HEADING`), which go in the mapping section, between `<!-- about:routes -->`
  markers.

    .venv/bin/python scripts/sync_docs.py          # rewrite what is out of date
    .venv/bin/python scripts/sync_docs.py --check  # exit 1, one line per difference
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plugin_definitions import PLUGINS, definition, differences

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
README_MARKERS = {"tap-primedata": "tap", "target-cdp": "target"}
ROUTES_HEADING = "## Route types and options"  # the section `target_cdp.about` adds
ABOUT: dict[tuple[str, str], Future[str]] = {}
HEADER = (
    "# Meltano Hub definition of {name}, generated from `{name} --about --format=json` by\n"
    "# scripts/sync_docs.py: do not edit. Add it to a Meltano project with\n"
    "#   meltano add --plugin-type {kind} {name} --from-ref {path}\n"
    '# and pin `pip_url` (README: "Use it in your Meltano project").\n'
)
MELTANO_KEYS = [  # what meltano.yml's base plugin entries share with the definitions
    "namespace",
    "variant",
    "label",
    "description",
    "executable",
    "capabilities",
    "settings_group_validation",
    "settings",
]


class AboutFailed(Exception):
    """A plugin's `--about` did not run: its part of the docs is left as it is."""


def about(executable: str, fmt: str) -> str:
    """`<executable> --about --format=<fmt>` (all four started at once, on first use);
    raises AboutFailed with its last error line."""
    if not ABOUT:
        with ThreadPoolExecutor(4) as pool:
            for key in [(name, f) for name in PLUGINS for f in ("json", "markdown")]:
                ABOUT[key] = pool.submit(_run_about, *key)
    return ABOUT[(executable, fmt)].result()


def _run_about(executable: str, fmt: str) -> str:
    exe = BIN / executable
    done = subprocess.run(
        [str(exe if exe.exists() else executable), "--about", f"--format={fmt}"],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise AboutFailed(f"{executable} --about failed: {last}")
    return done.stdout


def definition_path(root: Path, name: str) -> Path:
    return root / "plugins" / PLUGINS[name]["type"] / f"{name}.yml"


def render_definition(root: Path, want: dict[str, Any]) -> str:
    kind = PLUGINS[want["name"]]["type"][:-1]
    path = definition_path(root, want["name"]).relative_to(root)
    body = yaml.safe_dump(want, sort_keys=False, allow_unicode=True, width=4096)
    return HEADER.format(name=want["name"], kind=kind, path=path) + body


class Sync:
    """One pass over the files: collects the differences, rewrites unless checking."""

    def __init__(self, root: Path, check: bool) -> None:
        self.root = root
        self.check = check
        self.problems: list[str] = []
        self.failed: list[str] = []
        self.changed: list[str] = []

    def report(self, path: Path, lines: list[str]) -> bool:
        where = path.relative_to(self.root)
        self.problems += [f"{where}: {line}" for line in lines]
        return bool(lines)

    def definitions(self) -> dict[str, dict[str, Any]]:
        found = {}
        for name in PLUGINS:
            try:
                found[name] = definition(json.loads(about(name, "json")))
            except AboutFailed as exc:
                self.failed.append(str(exc))
        return found

    def sync_definition(self, want: dict[str, Any]) -> None:
        path = definition_path(self.root, want["name"])
        text = render_definition(self.root, want)
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        have = yaml.safe_load(old) if old else {}
        if not isinstance(have, dict):
            have = {}
        if old:
            stale = self.report(path, differences(have, want, [*want.keys()]))
        else:
            stale = self.report(path, ["missing: generate it with scripts/sync_docs.py"])
        if (stale or old != text) and not self.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            self.changed.append(str(path.relative_to(self.root)))

    def sync_meltano(self, wanted: dict[str, dict[str, Any]]) -> None:
        path = self.root / "meltano.yml"
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        stale = False
        for name, want in wanted.items():
            entry = _base_plugin(spec, PLUGINS[name]["type"], name)
            if entry is None:
                stale |= self.report(path, [f"plugin {name} is missing"])
                continue
            lines = differences(entry, want, MELTANO_KEYS)
            stale |= self.report(path, [f"{name}: {line}" for line in lines])
        if stale and not self.check:
            _rewrite_meltano(path, wanted)
            self.changed.append(path.name)

    def sync_readme(self) -> None:
        path = self.root / "README.md"
        old = text = path.read_text(encoding="utf-8")
        for plugin, marker in README_MARKERS.items():
            try:
                body = about(plugin, "markdown").strip()
            except AboutFailed as exc:
                self.failed.append(str(exc))
                continue
            body, _, routes = body.partition(ROUTES_HEADING)
            body = re.sub(r"^# ", "### ", body.strip(), flags=re.M)  # the README's levels
            body = re.sub(r"^## ", "#### ", body, flags=re.M)
            text = self._between(path, text, marker, body)
            if routes:
                text = self._between(path, text, "routes", f"### Route types and options{routes}")
        if text != old:
            self.report(
                path, ["the settings or route tables differ from --about --format=markdown"]
            )
            if not self.check:
                path.write_text(text, encoding="utf-8")
                self.changed.append(path.name)

    def _between(self, path: Path, text: str, marker: str, body: str) -> str:
        """`text` with `body` between its `<!-- about:MARKER -->` markers (reported missing)."""
        start, end = f"<!-- about:{marker} -->\n", f"<!-- /about:{marker} -->"
        pattern = re.compile(rf"({re.escape(start)})(?:.*?\n)?({re.escape(end)})", re.S)
        if not pattern.search(text):
            self.report(path, [f"no {start.strip()} ... {end} markers"])
            return text
        return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text, count=1)


def _base_plugin(spec: dict[str, Any], kind: str, name: str) -> dict[str, Any] | None:
    plugins = (spec.get("plugins") or {}).get(kind) or []
    return next((p for p in plugins if p.get("name") == name and "inherit_from" not in p), None)


def _rewrite_meltano(path: Path, wanted: dict[str, dict[str, Any]]) -> None:
    """Replace the shared keys of each base plugin, keeping the rest of the file as it is
    (comments included: ruamel.yaml, which Meltano itself uses, round-trips the file)."""
    try:
        from ruamel.yaml import YAML  # installed with meltano
    except ImportError:
        needs = "rewriting meltano.yml needs ruamel.yaml: install the meltano extra"
        raise SystemExit(needs) from None

    rt = YAML()
    rt.indent(mapping=2, sequence=2, offset=0)
    rt.width = 4096
    rt.preserve_quotes = True
    spec = rt.load(path.read_text(encoding="utf-8"))
    for name, want in wanted.items():
        kind = PLUGINS[name]["type"]
        plugins = spec.setdefault("plugins", {}).setdefault(kind, [])
        entry = _base_plugin(spec, kind, name)
        if entry is None:
            entry = {"name": name, "pip_url": "-e ."}
            plugins.insert(0, entry)
        for key in MELTANO_KEYS:
            if key not in want:
                entry.pop(key, None)
            elif key in entry or not hasattr(entry, "insert"):
                entry[key] = want[key]
            else:  # where Meltano itself would put it: after the keys that precede it
                before = list(want)[: list(want).index(key)]
                at = max((i + 1 for i, k in enumerate(entry) if k in before), default=0)
                entry.insert(at, key, want[key])
    out = io.StringIO()
    rt.dump(spec, out)
    path.write_text(out.getvalue(), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder (default: this)")
    args = parser.parse_args()
    sync = Sync(args.root.resolve(), args.check)
    wanted = sync.definitions()
    for want in wanted.values():
        sync.sync_definition(want)
    sync.sync_meltano(wanted)
    sync.sync_readme()
    for failure in dict.fromkeys(sync.failed):
        print(failure, file=sys.stderr)
    if args.check:
        for line in sync.problems:
            print(line, file=sys.stderr)
        if sync.problems:
            print("out of date: run scripts/sync_docs.py", file=sys.stderr)
    elif sync.changed:
        print(f"updated: {', '.join(dict.fromkeys(sync.changed))}", file=sys.stderr)
    return 1 if (sync.problems and args.check) or sync.failed else 0


if __name__ == "__main__":
    sys.exit(main())
