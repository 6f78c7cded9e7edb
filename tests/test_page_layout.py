"""The booking page's second edition, as built: times and form side by side, later days
behind a disclosure, the owner's photo and role, the privacy sentence, the legal links."""

from __future__ import annotations

import base64
import gzip
import io
import re
from pathlib import Path

import pytest
from page_support import parse_page
from PIL import Image
from test_site import NOW_DT, SECRET, build, set_setting, snapshot

from generator.cli import main
from generator.config.settings import load_settings
from generator.page.build import offered_slots
from generator.page.viewdata import VISIBLE_DAYS


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _photo(path: Path, size: tuple[int, int] = (1600, 2000)) -> None:
    """A camera-sized portrait with noise (compresses like a real photo, not like a flat area)."""
    import random

    rng = random.Random(7)
    image = Image.new("RGB", size)
    image.putdata(
        [
            (120 + rng.randrange(60), 100 + rng.randrange(60), 90 + rng.randrange(60))
            for _ in range(size[0] * size[1])
        ]
    )
    image.save(path, "JPEG", quality=92)


def test_times_and_the_form_are_two_sections_with_a_way_from_one_to_the_other(
    runner, example_site: Path
) -> None:
    build(runner, example_site)
    page = parse_page(example_site / "public" / "index.html")
    times, details = page.one("section", class_="times"), page.one("section", id="details")
    assert times and details
    # Every time is inside the times section, every personal field inside the details.
    for radio in page.slot_radios:
        assert "section" in radio.ancestors
        assert any(a.get("class") == "times" for a in radio.hidden_by)
    for name in ("topic", "name", "phone", "email", "note"):
        field = next(e for e in page.elements if e.attrs.get("name") == name)
        assert any(a.get("id") == "details" for a in field.hidden_by), name
    # Without JavaScript a plain link moves a phone user from the times to the form.
    assert page.one("a", href="#details")
    # The picked time is summarised beside the button (filled by the script, read out).
    picked = page.one("p", id="picked")
    assert picked.attrs["aria-live"] == "polite"
    assert "picked" in page.one("button", type="submit").attrs["aria-describedby"]


def test_later_days_wait_behind_a_disclosure_and_no_time_is_lost(
    runner, example_site: Path
) -> None:
    build(runner, example_site)
    page = parse_page(example_site / "public" / "index.html")
    settings = load_settings(example_site / "content" / "site.toml")
    offered = [s for s in offered_slots(settings, NOW_DT) if s.call_type == "rueckruf"]
    days = sorted({s.start.astimezone(settings.tz).date() for s in offered})
    assert len(days) > VISIBLE_DAYS, "the example should offer more days than are shown open"
    inside = [r for r in page.slot_radios if "details" in r.ancestors]
    outside = [r for r in page.slot_radios if "details" not in r.ancestors]
    assert len(inside) + len(outside) == len(offered)
    open_days = {r.attrs["data-start"][:10] for r in outside}
    assert len(open_days) == VISIBLE_DAYS
    # The disclosure names the last day it holds, so a caller knows how far it reaches.
    summary = "".join(page.text)
    assert "Weitere Tage, bis" in summary
    assert f"{days[-1].day}. " in summary.split("Weitere Tage, bis", 1)[1][:20]


def test_the_privacy_sentence_says_what_is_kept_and_for_how_long(
    runner, example_site: Path
) -> None:
    build(runner, example_site)
    text = " ".join(" ".join(parse_page(example_site / "public" / "index.html").text).split())
    assert (
        "Ihre Angaben (Name, Telefon, E-Mail, Thema, Notiz) nutze ich nur für dieses "
        "Telefonat und lösche sie 90 Tage danach." in text
    )


def test_photo_role_and_organisation_fit_the_first_view(runner, example_site: Path) -> None:
    _photo(example_site / "content" / "portrait.jpg")
    set_setting(
        example_site,
        'phone = "+49 30 1234567"\n',
        'phone = "+49 30 1234567"\nrole = "Rechtsanwältin"\norganisation = "Kanzlei Beispiel"\n'
        'photo = "portrait.jpg"\n',
    )
    build(runner, example_site)
    raw = (example_site / "public" / "index.html").read_bytes()
    page = parse_page(example_site / "public" / "index.html")
    img = page.one("img", class_="photo")
    assert img.attrs["alt"] == ""  # the name stands beside it
    assert img.attrs["src"].startswith("data:image/webp;base64,")  # no second request
    pixels = Image.open(io.BytesIO(base64.b64decode(img.attrs["src"].split(",", 1)[1])))
    assert pixels.size == (144, 144)  # 2x the shown 72 px, from a 1600x2000 camera photo
    assert "Rechtsanwältin · Kanzlei Beispiel" in "".join(page.text)
    assert len(gzip.compress(raw, 9)) <= 14 * 1024
    # The same photo gives the same bytes: builds stay byte-identical.
    first = snapshot(example_site / "public")
    # Another output folder: the build cache cannot skip the rendering.
    build(runner, example_site, "--out", str(example_site / "again"))
    assert snapshot(example_site / "again") == first


def test_an_unreadable_photo_stops_the_build_with_the_field_named(
    runner, example_site: Path
) -> None:
    (example_site / "content" / "portrait.jpg").write_text("not an image")
    set_setting(example_site, 'phone = "+49 30 1234567"\n', 'phone = "+49 30 1234567"\n'
                'photo = "portrait.jpg"\n')
    result = build(runner, example_site, ok=False)
    assert result.exit_code != 0
    assert "owner.photo" in result.output and "portrait.jpg" in result.output
    assert "Traceback" not in result.output


def test_legal_links_on_every_page_from_an_address_and_from_markdown(
    runner, example_site: Path
) -> None:
    (example_site / "content" / "impressum.md").write_text(
        "# Impressum\n\nDr. Anna Beispiel, Musterstraße 1, 10115 Berlin\n", encoding="utf-8"
    )
    set_setting(
        example_site,
        'intro = "intro.md"\n',
        'intro = "intro.md"\nimprint = "impressum.md"\n'
        'privacy_policy = "https://anna-beispiel.example.org/datenschutz"\n',
    )
    build(runner, example_site)
    public = example_site / "public"
    for name in ("index.html", "beratung.html", "thanks.html", "error.html", "imprint.html"):
        page = parse_page(public / name)
        footer = [e for e in page.elements if e.tag == "a" and "footer" in e.ancestors]
        assert [a.attrs["href"] for a in footer] == [
            "/imprint.html",
            "https://anna-beispiel.example.org/datenschutz",
        ], name
    imprint = parse_page(public / "imprint.html")
    assert "Musterstraße 1" in "".join(imprint.text)
    assert imprint.title.startswith("Impressum")
    # Beside the button, the privacy sentence links the notice again.
    index = parse_page(public / "index.html")
    assert any(
        a.attrs["href"] == "https://anna-beispiel.example.org/datenschutz"
        for a in index.find("a")
        if "section" in a.ancestors
    )


def test_without_legal_settings_no_footer(runner, example_site: Path) -> None:
    build(runner, example_site)
    assert not parse_page(example_site / "public" / "index.html").find("footer")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('imprint = "missing.md"', "site.imprint"),
        ('imprint = "javascript:alert(1)"', "site.imprint"),
        ('privacy_policy = "datenschutz.txt"', "site.privacy_policy"),
    ],
)
def test_a_wrong_legal_setting_names_field_and_line(
    runner, example_site: Path, setting: str, message: str
) -> None:
    set_setting(example_site, 'intro = "intro.md"\n', f'intro = "intro.md"\n{setting}\n')
    result = runner.invoke(
        main, ["build", "--config", str(example_site / "content" / "site.toml"), "--now",
               "2026-11-27T08:00:00Z"]
    )
    assert result.exit_code != 0
    assert message in result.output and re.search(r"line \d+", result.output)
    assert "Traceback" not in result.output
