"""`transferline download` against a hostile image host on loopback: every URL ends with the right status and
reason, nothing crashes, the drip and the endless body are cut off by their deadline and cap, and redirects to
loopback addresses outside the allow-list (127.0.0.2, [::1]) never reach the canaries listening there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import hostile
from tests.support.hostile import picture, redirect, reply
from transferline.cli import main

pytestmark = pytest.mark.slow
ALLOW = ["--allow-network", "127.0.0.1/32"]


def noisy_jpeg() -> bytes:
    from PIL import Image

    return hostile.picture_from(Image.frombytes("RGB", (160, 120), os.urandom(160 * 120 * 3)), "JPEG")


@pytest.fixture
def scene(tmp_path: Path):
    jpeg, png, cut = picture("JPEG"), picture("PNG", colour="orange"), noisy_jpeg()
    with hostile.canary("127.0.0.2") as far, hostile.canary("::1") as six:
        routes = {
            "/good.jpg": lambda h: reply(h, jpeg, Content_Type="image/jpeg"),
            "/good.png": lambda h: reply(h, png, Content_Type="image/png"),
            "/good.webp": lambda h: reply(h, picture("WEBP", colour="navy")),
            "/good.gif": lambda h: reply(h, picture("GIF", colour="red", frames=3), Content_Type="image/gif"),
            "/same-a.jpg": lambda h: reply(h, jpeg),
            "/same-b": lambda h: reply(h, jpeg, Content_Type="text/plain"),
            "/missing": lambda h: reply(h, b"no", 404),
            "/broken": lambda h: reply(h, b"oops", 500),
            "/flaky.png": hostile.flaky(1, png),
            "/chain/1": redirect("/chain/2"),
            "/chain/2": redirect("/chain/3"),
            "/chain/3": redirect("/good.png"),
            "/loop": redirect("/loop"),
            "/to-far": redirect(far.url + "/secret"),
            "/to-six": redirect(six.url + "/secret"),
            "/truncated.jpg": lambda h: reply(h, cut[: len(cut) // 2]),
            "/html.jpg": lambda h: reply(h, b"<!DOCTYPE html><html>hi</html>", Content_Type="image/jpeg"),
            "/logo.svg": lambda h: reply(h, b'<svg xmlns="http://www.w3.org/2000/svg"/>', Content_Type="image/svg+xml"),
            "/empty.jpg": lambda h: reply(h, b""),
            "/bomb.png": lambda h: reply(h, hostile.png_header_only(40000, 40000)),
            "/endless": hostile.stream_without_length(64 * 2**20),
            "/claims-huge": lambda h: reply(h, jpeg, Content_Length="99999999999"),
            "/claims-small.jpg": lambda h: reply(h, cut, Content_Length="300"),
            "/drip": hostile.drip(2.0),
            "/noai.jpg": lambda h: reply(h, picture("JPEG", colour="green"), X_Robots_Tag="noai"),
            "/tiny.png": lambda h: reply(h, picture("PNG", size=(4, 4))),
            "/text": lambda h: reply(h, b"\x00\x01 just bytes"),
        }
        with hostile.serve(routes) as host:
            yield host, far, six, tmp_path


EXPECTED = {
    "/good.jpg": ("ok", None),
    "/good.png": ("ok", None),
    "/good.webp": ("ok", None),
    "/good.gif": ("ok", None),
    "/same-a.jpg": ("ok", None),
    "/same-b": ("ok", None),
    "/missing": ("failed", "http-status"),
    "/broken": ("failed", "http-status"),
    "/flaky.png": ("ok", None),
    "/chain/1": ("ok", None),
    "/loop": ("failed", "too-many-redirects"),
    "/to-far": ("failed", "blocked-address"),
    "/to-six": ("failed", "blocked-address"),
    "/truncated.jpg": ("failed", "corrupt-image"),
    "/html.jpg": ("failed", "unsupported-format"),
    "/logo.svg": ("failed", "unsupported-format"),
    "/empty.jpg": ("failed", "empty"),
    "/bomb.png": ("failed", "too-many-pixels"),
    "/endless": ("failed", "too-large"),
    "/claims-huge": ("failed", "too-large"),
    "/claims-small.jpg": ("failed", "corrupt-image"),
    "/drip": ("failed", "timeout"),
    "/noai.jpg": ("failed", "opted-out"),
    "/tiny.png": ("failed", "too-small"),
    "/text": ("failed", "not-an-image"),
}


def run(host_url: str, out: Path, *extra: str, paths=EXPECTED) -> int:
    listing = out.parent / "urls.txt"
    listing.write_text("".join(f"{host_url}{path}\n" for path in paths) + "gopher://x/\nhttp://user:pw@127.0.0.1/\n")
    argv = ["download", str(listing), "--out", str(out), "--timeout", "3", "--retries", "1", "--max-bytes", "4000000"]
    return main([*argv, *ALLOW, *extra])


def outcomes(out: Path) -> dict[str, dict]:
    return {row["url"]: row for row in map(json.loads, (out / "outcomes.jsonl").read_text().splitlines())}


def test_every_url_ends_with_its_status_and_reason(scene) -> None:
    host, far, six, tmp = scene
    out = tmp / "out"
    assert run(host.url, out) == 0
    found = outcomes(out)
    assert len(found) == len(EXPECTED) + 2  # exactly one line per input URL
    got = {url.removeprefix(host.url): (row["status"], row.get("reason")) for url, row in found.items()}
    assert got == {**EXPECTED, "gopher://x/": ("failed", "bad-url"), "http://user:pw@127.0.0.1/": ("failed", "bad-url")}
    assert far.connections == [] and six.connections == []
    assert found[host.url + "/missing"]["detail"] == "404"
    assert found[host.url + "/chain/1"]["final_url"] == host.url + "/good.png"
    assert found[host.url + "/same-a.jpg"]["sha256"] == found[host.url + "/same-b"]["sha256"]
    assert host.user_agents() == {host.user_agents().pop()} and "transferline" in host.user_agents().pop()


def test_images_manifest_and_summary_agree(scene) -> None:
    host, _, _, tmp = scene
    out = tmp / "out"
    run(host.url, out)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    stored = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*") if p.is_file())
    assert sorted(f"images/{r['sha256'][:2]}/{r['sha256']}.{r['key'].rsplit('.', 1)[1]}" for r in manifest) == stored
    assert {r["format"] for r in manifest} == {"jpeg", "png", "webp", "gif"}
    assert all(len(r["phash"]) == 16 and r["url"] for r in manifest)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] == 8 and summary["stored"] == len(manifest) == 4 and summary["duplicates"] == 4
    assert summary["failed"] == len(EXPECTED) + 2 - 8 and summary["reasons"]["blocked-address"] == 2
    lb = json.loads((out / "labelbox_import.json").read_text())
    assert {row["global_key"] for row in lb} == {r["sha256"] for r in manifest}
    assert all(Path(row["row_data"].removeprefix("file://")).is_file() for row in lb)


def test_without_the_allow_list_loopback_itself_is_refused(scene) -> None:
    host, _, _, tmp = scene
    out = tmp / "out"
    listing = tmp / "urls.txt"
    listing.write_text(f"{host.url}/good.jpg\n")
    assert main(["download", str(listing), "--out", str(out)]) == 0
    assert [row["reason"] for row in outcomes(out).values()] == ["blocked-address"]
    assert host.seen == []


def test_resume_fetches_only_what_has_no_outcome(scene) -> None:
    host, _, _, tmp = scene
    out = tmp / "out"
    paths = ["/good.jpg", "/good.png"]
    assert run(host.url, out, paths=paths[:1]) == 0
    host.seen.clear()
    assert run(host.url, out, "--resume", paths=paths) == 0
    assert [path for path, _ in host.seen] == ["/good.png"]
    assert len(outcomes(out)) == 4  # two pictures and the two bad URLs every list here carries


def test_too_many_failures_exit_1_after_writing_everything(scene) -> None:
    host, _, _, tmp = scene
    out = tmp / "out"
    assert run(host.url, out, "--max-failed-fraction", "0.1", paths=["/missing", "/good.png"]) == 1
    assert len(outcomes(out)) == 4


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [("--workers", "0", "workers"), ("--timeout", "-1", "timeout"), ("--per-host", "x", "per-host")],
)
def test_bad_arguments_exit_2_naming_the_field(tmp_path: Path, capsys, flag: str, value: str, field: str) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("http://127.0.0.1/x\n")
    with pytest.raises(SystemExit) if value == "x" else _nothing():
        assert main(["download", str(listing), "--out", str(tmp_path / "o"), flag, value]) == 2
    assert field.replace("-", "_") in capsys.readouterr().err.replace("-", "_")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False
