"""The docs stay honest: every block marked runnable in docs/ is run here, as a user would.

A block is marked by an HTML comment on the line before its fence:

    <!-- runnable -->
    ```console
    $ callslot check
    ```

``console`` blocks run line by line in a copy of the example site (a line
ending in `` &`` starts a server that runs until the block ends; port 8000
becomes a free port); ``python`` blocks run as a script there. A command no
runner here knows fails the test, so the guides cannot drift from what is
tested.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from testenv import IN_CI

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = ("deploy-netlify-lambda.md", "deploy-vps.md", "deploy-local.md")
BIN = Path(sys.executable).parent  # the venv's bin: callslot, gunicorn
SECRET = "docs-secret-0123456789abcdef"

_BLOCK = re.compile(r"<!-- runnable -->\n```(console|python)\n(.*?)```", re.S)


def runnable_blocks() -> list[tuple[str, str, str]]:
    """(id, language, code) of every marked block in docs/, in file order."""
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for i, match in enumerate(_BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append((f"{path.name}#{i + 1}", match.group(1), match.group(2)))
    return found


def console_commands(code: str) -> list[str]:
    """The ``$ `` lines of a console block (a trailing backslash continues a line)."""
    commands: list[str] = []
    joined = re.sub(r"\\\n\s*", " ", code)
    for line in joined.splitlines():
        if line.startswith("$ "):
            commands.append(line[2:].strip())
    return commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"the server exited with {process.returncode}:\n{out}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on port {port} after {seconds} s")


@pytest.fixture
def site(example_site: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The example site and the environment a reader of the guides would have set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SMTP_URL", "DATABASE_URL", "CALLSLOT_CONFIG", "CALLSLOT_TRUSTED_PROXIES")
    }
    from notify_support import smtp_server

    # Every guide has the reader set SMTP_URL (callslot check fails without it when
    # owner.email is set): a real local mail server stands in for theirs.
    with smtp_server() as (_sink, smtp_port):
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "CALLSLOT_SECRET": SECRET,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'bookings.sqlite3'}",
                "CALLSLOT_RATE_LIMIT": "off",
                "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            }
        )
        yield example_site, env


def run_console(code: str, cwd: Path, env: dict[str, str]) -> None:
    port = free_port()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for command in console_commands(code):
            command = command.replace("8000", str(port))
            background = command.endswith("&")
            argv = shlex.split(command.rstrip("&").strip())
            if argv[0] == "curl":
                url = next(a for a in argv if a.startswith("http"))
                with urllib.request.urlopen(url, timeout=10) as response:
                    assert response.status == 200, command
                    body = json.loads(response.read())
                assert body.get("ok") is True, (command, body)
            elif argv[0] in ("callslot", "gunicorn") and background:
                process = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                servers.append(process)
                wait_for_port(port, process)
            elif argv[0] == "callslot":
                result = subprocess.run(
                    argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
                )
                assert result.returncode == 0, f"$ {command}\n{result.stdout}{result.stderr}"
            else:
                pytest.fail(f"no runner for the documented command: {command}")
    finally:
        for process in servers:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


@pytest.mark.parametrize(
    ("language", "code"),
    [pytest.param(lang, code, id=name) for name, lang, code in runnable_blocks()],
)
def test_runnable_block(
    language: str, code: str, site: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    cwd, env = site
    if language == "console":
        run_console(code, cwd, env)
        return
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_guides_run_what_a_deployment_needs() -> None:
    """The commands the issue asks to be tested stay in the guides, marked runnable."""
    code = "\n".join(code for _, _, code in runnable_blocks())
    for needed in (
        "$ callslot build",
        "$ callslot check",
        "$ callslot notify",
        "generator.handler:app",
        "/api/health",
        "from generator.lambda_handler import",
    ):
        assert needed in code, f"no runnable block in docs/ runs {needed!r}"


@pytest.mark.parametrize("guide", GUIDES)
def test_each_guide_lists_the_environment_and_a_scheduled_rebuild(guide: str) -> None:
    text = (DOCS / guide).read_text(encoding="utf-8")
    for variable in ("CALLSLOT_SECRET", "DATABASE_URL", "SMTP_URL", "CALLSLOT_TRUSTED_PROXIES"):
        assert f"`{variable}`" in text, f"{guide} does not list {variable}"
    assert "*/15 * * * *" in text and "build" in text


def test_architecture_note_names_the_domain_words() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    for word in ("Calendar", "Busy interval", "Availability", "Slot", "Offer", "Booking", "Outbox"):
        assert f"**{word}**" in text
    for guide in GUIDES:
        assert f"({guide})" in text  # linked from the overview


def _unit(guide: str) -> dict[str, str]:
    """The settings of the systemd unit a guide shows (the ```ini block with [Service])."""
    text = (DOCS / guide).read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```ini\n(.*?)```", text, re.S) if "[Service]" in b)
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def test_the_local_guides_systemd_sandbox_lets_the_page_be_built(
    example_site: Path,
) -> None:
    """`callslot serve` builds at start and after each booking, under the guide's sandbox.

    ProtectSystem=strict makes everything read-only but ReadWritePaths; the build
    makes its new public/ beside the old one and swaps them, so listing only
    public/ and .callslot/ failed every build. The sandbox is re-created here
    with a mount namespace, as systemd does.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        if IN_CI:
            pytest.fail("unshare (util-linux) is needed to re-create the systemd sandbox")
        pytest.skip("no unshare here")
    unit = _unit("deploy-local.md")
    assert unit["ProtectSystem"] == "strict"
    root = unit["WorkingDirectory"]
    writable = [example_site / Path(p).relative_to(root) for p in unit["ReadWritePaths"].split()]
    for path in writable:
        path.mkdir(parents=True, exist_ok=True)
    # The site's parent stands for "/": read-only, with the listed paths writable again.
    top = example_site.parent
    alias = Path(tempfile.mkdtemp(dir=top.parent))  # outside the read-only tree
    binds = " && ".join(f"mount --bind {alias / p.relative_to(top)} {p}" for p in writable)
    script = (
        f"mount --bind {top} {alias} && mount --bind {top} {top} && "
        f"mount -o remount,bind,ro {top} {top} && {binds} && "
        f"! touch {top}/probe 2>/dev/null && cd {example_site} && "
        f"{BIN / 'callslot'} build --now 2026-11-30T07:00Z"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SMTP_URL")}
    env["CALLSLOT_SECRET"] = SECRET
    try:
        result = subprocess.run(
            [unshare, "-rm", "sh", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        alias.rmdir()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (example_site / "public" / "index.html").is_file()


_ENV_FILE = re.compile(r"<!-- env-file -->\n```sh\n(.*?)```", re.S)


@pytest.mark.parametrize("guide", ["deploy-vps.md", "deploy-local.md"])
def test_the_environment_file_reads_the_same_in_systemd_and_in_the_cron_shell(
    guide: str, tmp_path: Path
) -> None:
    """systemd's EnvironmentFile= and the cron line's `. /etc/callslot.env` both read the
    file; unquoted, a password with & or ; or $ cut the cron line or lost characters.
    Single quotes are verbatim in both (systemd.exec(5): "like single-quoted text in a
    POSIX shell"), so every value in the guide's example is single-quoted, and the cron
    lines source it with set -a."""
    text = (DOCS / guide).read_text(encoding="utf-8")
    (block,) = _ENV_FILE.findall(text)
    assignments = [ln for ln in block.splitlines() if ln and not ln.startswith("#")]
    quoted = [re.fullmatch(r"([A-Z_]+)='([^']*)'", ln) for ln in assignments]
    assert all(quoted), f"{guide}: every value in single quotes"
    expected = {m.group(1): m.group(2) for m in quoted if m}
    assert any(c in expected["SMTP_URL"] for c in "&$;"), "the example shows the hard case"
    env_file = tmp_path / "callslot.env"
    env_file.write_text(block, encoding="utf-8")
    cron_lines = [ln for ln in text.splitlines() if ln.startswith("*/") and "callslot " in ln]
    assert cron_lines and all(
        "set -a && . /etc/callslot.env && set +a && " in ln for ln in cron_lines
    )
    show = (
        f"{shlex.quote(sys.executable)} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    )
    result = subprocess.run(
        ["sh", "-c", f"set -a && . {shlex.quote(str(env_file))} && set +a && {show}"],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert {name: seen.get(name) for name in expected} == expected


def test_the_dates_ci_runs_the_suite_at_are_the_ones_the_readme_names() -> None:
    # README.md says which dates the suite is proven on; tests/faketime/run-dates runs
    # them (and .ci/run runs that script): the list must not drift from what is run.
    script = (ROOT / "tests" / "faketime" / "run-dates").read_text()
    run = re.findall(r'^\s+"(\d{4}-\d\d-\d\d \d\d:\d\d):00"', script, re.M)
    readme = (ROOT / "README.md").read_text()
    named = readme[readme.index("Days worth a run"):readme.index("## The booking page")]
    assert len(run) >= 6, run
    for at in run:
        day, clock = at.split()
        assert day in named and clock in named, (at, named)
    assert "tests/faketime/run-dates" in (ROOT / ".ci" / "run").read_text()
