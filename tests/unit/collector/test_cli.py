"""`transferline collect`: the exact interface other tools read (DIR/urls.jsonl, report.json, ATTRIBUTION.md,
a summary on stdout), exit 2 naming the field or setting for bad arguments, 1 when nothing usable came back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.providers import NOWHERE, PROVIDERS, image_url, play_openverse, play_wikimedia, serve_api
from transferline import keys
from transferline.cli import main
from transferline.contracts import UrlRow, read_rows
from transferline.settings import Settings
from transferline.store import open_store


@pytest.fixture(autouse=True)
def providers_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDERS:
        monkeypatch.setenv(f"TRANSFERLINE_{name.upper()}_URL", NOWHERE)
        monkeypatch.setenv(f"TRANSFERLINE_{name.upper()}_INTERVAL_SECONDS", "0")


def test_queries_and_a_list_give_the_three_files_and_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "mine.csv"
    listed.write_text("name,url\na,https://a.test/1.jpg\nb,javascript:void(0)\n")
    with serve_api(play_openverse(total=30)) as openverse, serve_api(play_wikimedia(total=5)) as wikimedia:
        monkeypatch.setenv("TRANSFERLINE_OPENVERSE_URL", openverse.url)
        monkeypatch.setenv("TRANSFERLINE_WIKIMEDIA_URL", wikimedia.url)
        code = main(
            [
                "collect",
                "--query",
                "bottle",
                "--max-per-query",
                "25",
                "--list",
                str(listed),
                "--out",
                str(tmp_path / "o"),
            ]
        )
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = list(read_rows((tmp_path / "o/urls.jsonl").read_bytes(), UrlRow, "urls.jsonl"))
    assert [row.source for row in rows] == ["list:mine.csv"] + ["openverse"] * 25 + ["wikimedia"] * 4
    assert rows[1].url == image_url("openverse", 1) and rows[1].query == "bottle"
    report = json.loads((tmp_path / "o/report.json").read_text())
    assert [(s["source"], s["kept"]) for s in report["sources"]] == [
        ("list:mine.csv", 1),
        ("openverse", 25),
        ("wikimedia", 4),
    ]
    assert report["dropped_by_reason"] == {"bad-scheme": 1, "not-an-image": 1}
    assert (tmp_path / "o/ATTRIBUTION.md").read_text().startswith("# Attribution")
    assert "kept 30 of 32" in out.out and "openverse 'bottle' page 2: 5 results" in out.err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--query", "b", "--max-per-query", "0"], "max_per_query"),
        (["--query", "b", "--provider", "bing"], "providers"),
        (["--query", "b", "--license", "by,gpl"], "licenses"),
        (["--query", " "], "queries"),
        (["--query", "b", "--provider", "brave"], "TRANSFERLINE_BRAVE_API_KEY"),
        (["--query", "b", "--provider", "flickr"], "TRANSFERLINE_FLICKR_API_KEY"),
        (["--list", "missing.txt"], "missing.txt"),
        ([], "--query or --list"),
    ],
)
def test_bad_arguments_exit_2_naming_the_field(
    args: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


def test_nothing_usable_exits_1_after_writing_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = tmp_path / "bad.txt"
    listed.write_text("ftp://a.test/1.jpg\nnot a url\n")
    assert main(["collect", "--list", str(listed), "--out", str(tmp_path / "o")]) == 1
    out = capsys.readouterr()
    assert "nothing usable came back" in out.err and "kept 0 of 2" in out.out
    assert json.loads((tmp_path / "o/report.json").read_text())["dropped_by_reason"] == {
        "bad-scheme": 1,
        "not-a-url": 1,
    }


def test_upload_puts_url_lists_under_the_job_and_refuses_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRANSFERLINE_DATA_DIR", str(tmp_path / "data"))
    listed = tmp_path / "my list.txt"
    listed.write_text("https://a.test/1.jpg\n")
    assert main(["upload", "job-1", "--urls", str(listed)]) == 0
    assert "-> jobs/job-1/urls/lists/my_list.txt" in capsys.readouterr().out
    stored = open_store(Settings.from_env()).get_bytes(keys.url_list("job-1", "my_list.txt"))
    assert stored == b"https://a.test/1.jpg\n"
    assert main(["upload", "job-1", "--urls", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read URL list" in capsys.readouterr().err
