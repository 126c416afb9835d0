"""What a meeting's material is, told from its bytes rather than from what the sender
says: a PDF starts with ``%PDF-``, a DOCX is a zip holding ``word/document.xml``, PNG
and JPEG have their signatures. Pure: no storage, no service."""

from __future__ import annotations

import io
import zipfile

from services.shared.events.meetings import MATERIAL_TYPES

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PNG = "image/png"
JPEG = "image/jpeg"

#: How people name each kind, in the messages that refuse a file.
TYPE_NAMES = {PDF: "PDF", DOCX: "Word (DOCX)", PNG: "PNG", JPEG: "JPEG"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_ZIP_SIGNATURE = b"PK\x03\x04"


def sniff(content: bytes) -> str | None:
    """The media type `content` is by its bytes (one of MATERIAL_TYPES), or None."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(_PNG_SIGNATURE):
        return PNG
    if content.startswith(_JPEG_SIGNATURE):
        return JPEG
    if content.startswith(_ZIP_SIGNATURE) and _is_docx(content):
        return DOCX
    return None


def _is_docx(content: bytes) -> bool:
    # Only the zip's directory is read (namelist), never its members: a zip bomb costs
    # nothing here.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def accepted() -> str:
    """The kinds accepted, for messages: "PDF, Word (DOCX), PNG, JPEG"."""
    return ", ".join(TYPE_NAMES[media_type] for media_type in MATERIAL_TYPES)
