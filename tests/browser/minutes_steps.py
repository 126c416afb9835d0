"""The minutes' browser steps, run by tests/browser/test_minutes.py in a process of their
own (Playwright's blocking calls must not share one with eventlet):
`python -m tests.browser.minutes_steps <base URL> <meeting id>`.

A cell's secretary logs in through the login page, attaches a PDF through the meeting
page's form, follows "In biên bản", and the minutes are saved as an A4 PDF and a PNG
under docs/screenshots/minutes/; the PDF's text must hold the title and the cell.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.steps import CHROMIUM, log_in

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "minutes"
LOGIN = os.environ.get("CHIBO_BROWSER_LOGIN", "")
PASSWORD = os.environ.get("CHIBO_BROWSER_PASSWORD", "")
CELL = os.environ.get("CHIBO_MINUTES_CELL", "")
#: A small document to attach, as a secretary would send the draft resolution.
DRAFT = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def plain(text: str) -> str:
    """Text as compared: NFC (a PDF may hold decomposed diacritics), spaces collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def pdf_text(path: Path) -> str | None:
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    return plain(" ".join(page.extract_text() or "" for page in PdfReader(path).pages))


def run(base: str, meeting_id: str, page, folder: Path) -> None:
    log_in(page, base, LOGIN, PASSWORD)
    page.goto(f"{base}/reporting/meetings/{meeting_id}")
    draft = folder / "Dự thảo nghị quyết.pdf"
    draft.write_bytes(DRAFT)
    page.set_input_files("[data-testid=material-form] input[type=file]", str(draft))
    page.click("[data-testid=material-submit]")
    page.wait_for_url(f"**/reporting/meetings/{meeting_id}?attached=*")
    assert "Dự thảo nghị quyết.pdf" in page.inner_text("[data-testid=material-attached]")
    assert page.locator("[data-testid=material-link]").count() == 1

    page.click("[data-testid=minutes-link]")
    page.wait_for_url(f"**/reporting/meetings/{meeting_id}/minutes")
    shown = plain(page.inner_text("[data-testid=minutes]"))
    for expected in ("ĐẢNG CỘNG SẢN VIỆT NAM", "BIÊN BẢN SINH HOẠT CHI BỘ", CELL.upper(),
                     "CHỦ TRÌ", "THƯ KÝ", "Vắng có lý do: 1", "Ngân Thị Mai",
                     "Nghị quyết về làm đường liên bản", "Dự thảo nghị quyết.pdf"):
        assert expected in shown, (expected, shown[:2000])
    assert page.locator("[data-testid=minutes-print]").is_visible()

    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUT / "bien-ban.png", full_page=True)
    page.emulate_media(media="print")
    assert not page.locator(".toolbar").is_visible()  # no navigation on paper
    pdf = OUT / "bien-ban.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True)
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = pdf_text(pdf)
    if text is None:  # without pypdf, the printed page's own text stands in
        text = plain(page.inner_text("[data-testid=minutes]"))
    # A PDF's text comes back in runs, and a reader may put a space between two runs
    # inside a word (a letter with its diacritics set apart): compare without spaces,
    # every letter and diacritic still in place.
    squeezed = "".join(text.split())
    for expected in ("BIÊN BẢN SINH HOẠT CHI BỘ", CELL.upper()):
        assert "".join(expected.split()) in squeezed, (expected, text[:2000])


def main() -> int:
    base, meeting_id = sys.argv[1], sys.argv[2]
    errors: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            run(base, meeting_id, page, Path(folder))
        finally:
            browser.close()
    assert not errors, errors
    return 0


if __name__ == "__main__":
    sys.exit(main())
