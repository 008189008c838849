"""The export dialog: its list is the transcript formats' registry (every format, the pictures drawn from one,
an exercise sheet in each format that writes one, the weights); an empty path says why nothing is written and
stays; a key typed on the pre-filled path goes at its end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, Label, Select

from bpdebug.transcript import EXERCISE_FORMATS, FORMATS, PICTURES
from bpdebug.tui.app import make_app
from bpdebug.tui.session import EXERCISE, export_formats
from bpdebug.tui.widgets.modals import ExportModal

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"


def test_the_choices_come_from_the_registry():
    keys = [f.key for f in export_formats()]
    assert set(FORMATS) <= set(keys) and set(PICTURES) <= set(keys)
    assert {f + EXERCISE for f in EXERCISE_FORMATS} <= set(keys)
    assert len(keys) == len(set(keys))


async def open_dialog(pilot) -> ExportModal:
    await pilot.press("x")
    await pilot.pause()
    dialog = pilot.app.screen
    assert isinstance(dialog, ExportModal)
    return dialog


async def test_the_dialog_lists_every_choice_and_its_path_follows():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await open_dialog(pilot)
        select = dialog.query_one("#export-format", Select)
        path = dialog.query_one("#export-path", Input)
        for choice in export_formats():
            select.value = choice.key  # refused (InvalidSelectValueError) were it not offered
            await pilot.pause()
            assert path.value.endswith(f".{choice.extension}")
            assert path.value.endswith(f"{EXERCISE}.{choice.extension}") == choice.key.endswith(EXERCISE)


async def test_an_empty_path_says_why_and_stays(tmp_path):
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await open_dialog(pilot)
        dialog.query_one("#export-path", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # still open
        assert "a path is needed" in str(dialog.query_one("#export-why", Label).content)


async def test_space_on_the_prefilled_path_does_not_wipe_it():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await open_dialog(pilot)
        path = dialog.query_one("#export-path", Input)
        before = path.value
        await pilot.press("space")
        await pilot.pause()
        assert path.value == before + " "


async def export(tmp_path, key: str, name: str) -> tuple[Path, list[str]]:
    app = make_app(BLOG)
    target = tmp_path / name
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await open_dialog(pilot)
        dialog.query_one("#export-format", Select).value = key
        await pilot.pause()
        dialog.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    return target, []


@pytest.mark.parametrize("fmt", EXERCISE_FORMATS)
async def test_an_exercise_sheet_is_written(tmp_path, fmt):
    from bpdebug.cli import main

    target, _ = await export(tmp_path, fmt + EXERCISE, f"sheet.{fmt}")
    sheet = tmp_path / f"cli.{fmt}"
    assert main(["export", str(BLOG), "--format", fmt, "--exercise", "-o", str(sheet)]) == 0
    assert target.read_text() == sheet.read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("picture", PICTURES)
async def test_a_picture_is_written(tmp_path, picture):
    target, _ = await export(tmp_path, picture, f"pass.{picture}")
    assert target.read_text().lstrip().startswith(("<?xml", "<svg"))
