"""How big is the booking page a caller downloads? Raw and gzipped size of each built page.

Builds the example site (content/ and themes/) into a temporary folder with a
pinned --now, then prints the size of every HTML page raw and gzipped (level
9, about what a server sends), and checks the first view (index.html with its
inline style and script) against one TCP round trip: 14 KB gzipped.

    python bench/page.py
    python bench/page.py --now 2026-11-30T08:00Z --config content/site.toml
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/page.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from generator.settings import load_settings  # noqa: E402
from generator.site import build_site  # noqa: E402

FIRST_VIEW_BUDGET = 14 * 1024  # bytes gzipped: what the first round trip can carry
SECRET = b"bench-secret-not-for-production"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "content" / "site.toml"))
    parser.add_argument(
        "--now",
        default="2026-11-27T08:00:00+00:00",
        help="pinned build time (ISO 8601 with offset)",
    )
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    with tempfile.TemporaryDirectory() as scratch:
        result = build_site(settings, now, Path(scratch) / "public", secret=SECRET)
        print(
            f"{'page':<16} {'raw':>9} {'gzip':>9}   slots: "
            + ", ".join(f"{k} {v}" for k, v in result.slot_counts.items())
        )
        first_view = 0
        for path in result.files:
            if path.suffix not in (".html", ".json"):
                continue
            raw = path.read_bytes()
            packed = len(gzip.compress(raw, 9, mtime=0))
            if path.name == "index.html":
                first_view = packed
            print(f"{path.name:<16} {len(raw):>9,} {packed:>9,}")
    verdict = "ok" if first_view <= FIRST_VIEW_BUDGET else "OVER BUDGET"
    print(
        f"first view (index.html, all inline): {first_view:,} bytes gzipped of "
        f"{FIRST_VIEW_BUDGET:,} -> {verdict}"
    )
    return 0 if first_view <= FIRST_VIEW_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
