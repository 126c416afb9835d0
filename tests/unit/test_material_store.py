"""Meeting materials without services: the content-addressed file store, telling a
document's type from its bytes, and the attach_material command through the kernel's
pipeline on SQLite (what is refused stores no file and appends no event)."""

from __future__ import annotations

import base64
import io
import stat
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from chibo.blobs import BlobNotFound, BlobSettings, BlobStore, digest
from chibo.commands import Pipeline
from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, RecordedEvent
from chibo.eventstore.tables import command_log, events
from services.meetings import domain, handlers, read_model, replica
from services.meetings.handlers import Deps
from services.meetings.materials import DOCX, JPEG, PDF, PNG, sniff
from services.shared.events.meetings import catalogue
from services.shared.score_sheet import default_sheets
from services.shared.tree import default_kinds
from tests.support import TODAY, SessionRuntime

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def docx_bytes(parts: tuple[str, ...] = ("word/document.xml", "[Content_Types].xml")) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in parts:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


# -- the store ---------------------------------------------------------------------

def test_put_keeps_bytes_once_under_their_hash_private_to_the_owner(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "materials")
    key = store.put(PDF_BYTES)
    assert key == digest(PDF_BYTES) and len(key) == 64
    assert store.exists(key) and store.read(key) == PDF_BYTES
    with store.open(key) as file:
        assert file.read(5) == b"%PDF-"
    assert store.put(PDF_BYTES) == key  # the same content again: the same one file
    path = store.path(key)
    assert path == tmp_path / "materials" / key[:2] / key
    assert sorted(p.name for p in path.parent.iterdir()) == [key]  # no temporary left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "materials").stat().st_mode) == 0o700


def test_a_missing_or_malformed_key_is_not_found_and_never_leaves_the_folder(
        tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    absent = digest(b"never kept")
    assert not store.exists(absent)
    with pytest.raises(BlobNotFound):
        store.read(absent)
    for bad in ("../../etc/passwd", "AB" * 32, "x", ""):
        assert not store.exists(bad)
        with pytest.raises(BlobNotFound):
            store.read(bad)
        with pytest.raises(ValueError):
            store.path(bad)


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path)

    def broken(*args: Any) -> None:
        raise OSError("disk full")
    monkeypatch.setattr("chibo.blobs.os.replace", broken)
    with pytest.raises(OSError):
        store.put(PDF_BYTES)
    assert not store.exists(digest(PDF_BYTES))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_settings_name_what_is_wrong(tmp_path: Path) -> None:
    loaded = BlobSettings.from_config({"MATERIALS": {"dir": str(tmp_path), "max_bytes": "1024"}},
                                      "MATERIALS")
    assert loaded.max_bytes == 1024 and loaded.store.directory == tmp_path
    with pytest.raises(ValueError, match=r"MATERIALS\.dir"):
        BlobSettings.from_config({"MATERIALS": {"dir": ""}}, "MATERIALS")
    with pytest.raises(ValueError, match=r"MATERIALS\.max_bytes"):
        BlobSettings.from_config({"MATERIALS": {"dir": "x", "max_bytes": "lots"}}, "MATERIALS")
    with pytest.raises(ValueError, match=r"MATERIALS\.max_bytes"):
        BlobSettings.from_config({"MATERIALS": {"dir": "x", "max_bytes": 0}}, "MATERIALS")


# -- telling the type from the bytes ----------------------------------------------------

@pytest.mark.parametrize(("content", "expected"), [
    (PDF_BYTES, PDF), (PNG_BYTES, PNG), (JPEG_BYTES, JPEG), (docx_bytes(), DOCX),
    (docx_bytes(("xl/workbook.xml",)), None),  # a zip, but a spreadsheet
    (b"PK\x03\x04 not really a zip", None),
    (b"<html>%PDF-</html>", None), (b"GIF89a", None), (b"", None),
])
def test_sniff_reads_the_bytes_not_the_name(content: bytes, expected: str | None) -> None:
    assert sniff(content) == expected


# -- the command --------------------------------------------------------------------

@pytest.fixture
def factory() -> Iterator[Any]:
    engine = make_engine("sqlite://")
    create_schema(engine, replica.metadata, read_model.metadata)
    yield session_factory(engine)
    engine.dispose()


def run(factory: Any, store: BlobStore, name: str, body: dict[str, Any],
        max_bytes: int = 1024) -> dict[str, Any]:
    def read_stream(stream_id: str) -> list[RecordedEvent]:
        with factory() as session, session.begin():
            return EventStore(session, catalogue).read_stream(stream_id)
    cell = {"unit_id": "cb1", "name": "Chi bộ 1", "kind": "cell", "meets": True,
            "active": True}
    deps = Deps(today=TODAY, kinds=default_kinds(), sheets=default_sheets(),
                read_roster=lambda *a: (cell, handlers.NO_ROLL, True),
                sync_roster=lambda: None, read_stream=read_stream, materials=store,
                max_material_bytes=max_bytes)
    return Pipeline(handlers.registry, index=read_model.index).run(
        name, body, deps, SessionRuntime(factory, catalogue, command_id=f"c-{name}-{id(body)}"))


def attach(content: bytes, media_type: str = PDF, meeting_id: str = "m-1",
           file_name: str = "Dự thảo nghị quyết.pdf") -> dict[str, Any]:
    return {"meeting_id": meeting_id, "file_name": file_name, "media_type": media_type,
            "content": base64.b64encode(content).decode("ascii")}


def counts(factory: Any) -> tuple[int, int]:
    with factory() as session:
        return (session.execute(select(func.count()).select_from(events)).scalar_one(),
                session.execute(select(func.count()).select_from(command_log)).scalar_one())


@pytest.fixture
def scheduled(factory: Any, tmp_path: Path) -> BlobStore:
    store = BlobStore(tmp_path / "materials")
    run(factory, store, "schedule_meeting", {
        "meeting_id": "m-1", "cell_id": "cb1",
        "planned_on": (TODAY + timedelta(days=3)).isoformat()})
    return store


def test_a_pdf_is_stored_and_its_hash_logged_never_its_bytes(factory, scheduled) -> None:
    answer = run(factory, scheduled, "attach_material", attach(PDF_BYTES))
    sha = digest(PDF_BYTES)
    assert answer["sha256"] == sha and answer["size"] == len(PDF_BYTES)
    assert scheduled.read(sha) == PDF_BYTES
    with factory() as session:
        store = EventStore(session, catalogue)
        history = store.read_stream(domain.meeting_stream("m-1"))
        row = session.execute(select(events.c.data).where(
            events.c.type == "material_attached")).scalar_one()
        logged = session.execute(select(command_log.c.answer, command_log.c.digest)).all()
    assert history[-1].type == "material_attached"
    assert history[-1].data == {"meeting_id": "m-1", "cell_id": "cb1",
                                "file_name": "Dự thảo nghị quyết.pdf",
                                "media_type": PDF, "size": len(PDF_BYTES), "sha256": sha}
    encoded = attach(PDF_BYTES)["content"]
    assert encoded not in row
    # The command log keeps a digest of the body and the answer: no copy of the content.
    assert all(encoded not in answer_text for answer_text, _ in logged)
    assert domain.meeting_state(history)["materials"] == [
        {"file_name": "Dự thảo nghị quyết.pdf", "media_type": PDF, "size": len(PDF_BYTES),
         "sha256": sha}]


@pytest.mark.parametrize(("body", "error", "field"), [
    (attach(PNG_BYTES, PDF), ValidationFailed, "media_type"),
    (attach(b"just some text", PDF), ValidationFailed, "content"),
    (attach(PDF_BYTES + b"x" * 2000), ValidationFailed, "content"),
    (attach(PDF_BYTES, meeting_id="m-404"), NotFound, "meeting_id"),
    ({**attach(PDF_BYTES), "content": "not base64!"}, ValidationFailed, "content"),
    ({**attach(PDF_BYTES), "media_type": "text/html"}, ValidationFailed, "media_type"),
    (attach(PDF_BYTES, file_name="../../x.pdf"), ValidationFailed, "file_name"),
])
def test_a_refused_file_names_its_field_and_leaves_nothing(factory, scheduled, body, error,
                                                           field) -> None:
    before = counts(factory)
    with pytest.raises(error) as raised:
        run(factory, scheduled, "attach_material", body)
    if isinstance(raised.value, ValidationFailed):
        assert field in raised.value.fields
    else:
        assert raised.value.details.get("field") == field
    assert counts(factory) == before
    assert not scheduled.directory.exists() or not any(
        p.is_file() for p in scheduled.directory.rglob("*"))


def test_a_cancelled_meeting_takes_no_materials_and_a_document_is_attached_once(
        factory, scheduled) -> None:
    run(factory, scheduled, "attach_material", attach(PDF_BYTES))
    with pytest.raises(DomainRuleViolated):
        run(factory, scheduled, "attach_material", attach(PDF_BYTES, file_name="again.pdf"))
    run(factory, scheduled, "attach_material", attach(docx_bytes(), DOCX, file_name="a.docx"))
    run(factory, scheduled, "cancel_meeting", {"meeting_id": "m-1", "reason": "Lũ lụt"})
    before = counts(factory)
    with pytest.raises(ValidationFailed) as raised:
        run(factory, scheduled, "attach_material", attach(JPEG_BYTES, JPEG, file_name="b.jpg"))
    assert "meeting_id" in raised.value.fields
    assert counts(factory) == before and not scheduled.exists(digest(JPEG_BYTES))
