"""Lighthouse on the booking page: performance, accessibility and best practices, phone and desktop.

Builds the example site as bench/page.py does (optionally with an owner photo, the
heaviest first view), serves it with the real handler under /api/ on one local
origin, and runs Google's `lighthouse` (the npm package) against it with the
Chromium at CALLSLOT_CHROMIUM (default /usr/bin/chromium): once with its mobile
preset (a mid-range phone on a slow 4G link) and once with its desktop preset.
It prints each category's score and exits 1 when one is below 100.

Lighthouse is installed with npm into a folder outside the repository
(default: <tmp>/callslot-lighthouse; node_modules is never committed):

    python bench/lighthouse.py
    python bench/lighthouse.py --photo content/portrait.jpg --runs 3
    python bench/lighthouse.py --lighthouse-dir ~/.cache/callslot-lighthouse

Not a timed test: a Lighthouse run takes tens of seconds and its performance
score varies with the machine's load; the median of --runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/lighthouse.py` puts bench/ on the path, not the root
    sys.path.insert(0, str(ROOT))

from bench.page import CHROMIUM, SECRET, served  # noqa: E402
from generator.config.settings import load_settings  # noqa: E402
from generator.page.build import build_site  # noqa: E402

CATEGORIES = ("performance", "accessibility", "best-practices")
GOAL = 100
LIGHTHOUSE_VERSION = "12"


def install(folder: Path) -> Path:
    """The lighthouse command line, installed with npm into ``folder`` on first use."""
    cli = folder / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {folder} (npm) ...", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder),
             f"lighthouse@{LIGHTHOUSE_VERSION}"],
            check=True,
        )
    return cli


def run_lighthouse(cli: Path, url: str, preset: str, out: Path) -> dict[str, float]:
    """One Lighthouse run; the score (0-100) of each category."""
    command = [
        "node", str(cli), url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        "--only-categories=" + ",".join(CATEGORIES),
        # Debian's Chromium in a container: no sandbox, no GPU (as in tests/browser).
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text(encoding="utf-8"))
    scores = {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}
    for audit in ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
                  "cumulative-layout-shift", "speed-index"):
        found = report["audits"].get(audit)
        if found and found.get("score") is not None and found["score"] < 1:
            print(f"  {preset}: {found['title']} {found.get('displayValue', '')}", flush=True)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "content" / "site.toml"))
    parser.add_argument("--now", default="2026-11-27T08:00:00+00:00",
                        help="pinned build time (ISO 8601 with offset)")
    parser.add_argument("--photo", type=Path, default=None,
                        help="an owner photo to build in (owner.photo), e.g. a camera JPEG")
    parser.add_argument("--runs", type=int, default=1, help="runs per preset (median)")
    parser.add_argument("--reports", type=Path, default=None,
                        help="keep Lighthouse's JSON reports in this folder")
    parser.add_argument("--lighthouse-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "callslot-lighthouse")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"Chromium not found at {CHROMIUM}; set CALLSLOT_CHROMIUM", file=sys.stderr)
        return 2
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("Lighthouse needs Node.js and npm", file=sys.stderr)
        return 2
    cli = install(args.lighthouse_dir)
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    failed = False
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        config = Path(args.config)
        if args.photo is not None:
            # A copy of the site with the photo in it: the repository's content stays as it is.
            shutil.copytree(config.parent, scratch / "content")
            shutil.copy(args.photo, scratch / "content" / f"owner-photo{args.photo.suffix}")
            toml = scratch / "content" / "site.toml"
            text = toml.read_text(encoding="utf-8").replace(
                "[owner]\n", f'[owner]\nphoto = "owner-photo{args.photo.suffix}"\n', 1
            )
            toml.write_text(text, encoding="utf-8")
            config = toml
        settings = load_settings(config)
        public = scratch / "public"
        build_site(settings, now, public, secret=SECRET)
        with served(settings, public, scratch) as (url, _seen):
            print(f"{'preset':<8} " + " ".join(f"{c:>15}" for c in CATEGORIES))
            for preset in ("mobile", "desktop"):
                reports = args.reports or scratch
                reports.mkdir(parents=True, exist_ok=True)
                runs = [
                    run_lighthouse(cli, f"{url}/", preset, reports / f"{preset}-{i}.json")
                    for i in range(args.runs)
                ]
                scores = {c: statistics.median(r[c] for r in runs) for c in CATEGORIES}
                failed |= any(score < GOAL for score in scores.values())
                print(f"{preset:<8} " + " ".join(f"{scores[c]:>15.0f}" for c in CATEGORIES))
    print(f"\nGoal: {GOAL} in every category on mobile and desktop: "
          f"{'MISSED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
