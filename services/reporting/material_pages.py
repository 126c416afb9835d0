"""A meeting's materials and its printable minutes: a mixin for the reporting service.

* `POST /reporting/meetings/<id>/materials`: a secretary's upload (multipart form,
  field `file`), sent on to the meetings service's `attach_material` with the
  caller's identity (meetings checks the caller, the size and the type again and keeps
  the file); back to the meeting page with a confirmation, or the page again with the
  problem next to the form.
* `GET /reporting/meetings/<id>/materials/<sha256>`: the file, fetched from meetings
  over RPC, as a download, for the cell's personal-data readers (a material may be a
  member's self-criticism); others see on the meeting page only how many there are.
* `GET /reporting/meetings/<id>/minutes`: the minutes (biên bản sinh hoạt chi bộ) laid
  out for A4, from reporting's read model of the meeting.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from chibo.access import Access, Scope
from chibo.blobs import DEFAULT_MAX_BYTES, is_digest
from chibo.errors import ChiboError, NotFound, ValidationFailed
from chibo.nameko.access import access
from chibo.nameko.runtime import call_remote
from chibo.nameko.web import http
from services.reporting import queries, views
from services.reporting.access_rules import sees_personal_data
from services.reporting.pages import html_errors, request_for, same_site_form
from services.reporting.web import html_tables, render, urls
from services.shared.access_roles import RECORD_MEETINGS, VIEW_PERSONAL
from services.shared.events.meetings import MATERIAL_TYPES

#: Attaching a document: the meeting's recorders (meetings checks this again).
ATTACH_TO_MEETING = Access(RECORD_MEETINGS, Scope("meeting_id", "meeting"))
#: The minutes name the members present and absent: personal data of the cell.
MINUTES_OF_MEETING = Access(VIEW_PERSONAL, Scope("meeting_id", "meeting"))
#: A material may be a member's self-criticism or a report naming members: personal
#: data of the cell too (meetings asks the same of its `material` read).
MATERIAL_OF_MEETING = Access(VIEW_PERSONAL, Scope("meeting_id", "meeting"))
#: The longest file name meetings takes.
MAX_FILE_NAME = 255
#: What a multipart form adds around the file (boundaries, the CSRF field, headers).
FORM_OVERHEAD_BYTES = 64 * 1024


def material_url(meeting_id: str, sha256: str) -> str:
    return f"{urls.meeting(meeting_id)}/materials/{quote(sha256, safe='')}"


def attach_url(meeting_id: str) -> str:
    return f"{urls.meeting(meeting_id)}/materials"


def minutes_url(meeting_id: str) -> str:
    return f"{urls.meeting(meeting_id)}/minutes"


def download_headers(file_name: str, media_type: str) -> dict[str, str]:
    """A download of `file_name`: an ASCII fallback name and the UTF-8 one (RFC 6266),
    so a Vietnamese name arrives intact and no name can break the header; never kept
    by a browser or proxy (it is personal data)."""
    return {"Content-Type": media_type,
            "Content-Disposition": html_tables.content_disposition(file_name, "tai-lieu"),
            "Cache-Control": "private, no-store"}


def upload_file_name(sent: str) -> str:
    """The name an upload is kept under: the last part of what the browser sent (some
    old ones send the whole client path), NFC, cut to what meetings takes and only then
    stripped, so the cut cannot leave a trailing space meetings would refuse; "tai-lieu"
    when nothing is left."""
    name = unicodedata.normalize("NFC", sent.replace("\\", "/").rsplit("/", 1)[-1])
    return name[:MAX_FILE_NAME].strip() or "tai-lieu"


def declared_type(mimetype: str | None, file_name: str) -> str:
    """The type the sender says the file is: the browser's, or, when the browser names
    none of the accepted ones (application/octet-stream, say), the one the name's
    extension implies. Meetings then checks it against the bytes."""
    if mimetype in MATERIAL_TYPES:
        return str(mimetype)
    by_extension = {extension: media for media, extension in MATERIAL_TYPES.items()}
    by_extension[".jpeg"] = by_extension[".jpg"]
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    return by_extension.get(suffix) or mimetype or "application/octet-stream"


#: What a committee's name says before its place: "Đảng ủy xã Sơn Thủy" is in Sơn Thủy.
_COMMITTEE_PREFIX = re.compile(
    r"^(đảng ủy|đảng bộ|huyện ủy|thị ủy|thành ủy|tỉnh ủy|chi bộ)"
    r"(\s+(xã|phường|thị trấn|đặc khu|huyện|thị xã|thành phố|tỉnh|cơ sở))?\s+", re.IGNORECASE)


def locality(committee: str | None) -> str | None:
    """The place a minutes' date line names, from the committee above the cell: its
    name without the committee's kind ("Đảng ủy xã Sơn Thủy" -> "Sơn Thủy"); None
    when the name says no place."""
    if not committee:
        return None
    text = unicodedata.normalize("NFC", committee).strip()
    rest = _COMMITTEE_PREFIX.sub("", text, count=1).strip()
    return rest if rest and rest != text else None


def minutes_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.meeting` -> minutes.html: the header's committees, the attendance as
    the minutes book counts it, the votes' shares."""
    m = dict(data["meeting"])
    path = list(data.get("path") or [])
    attendance = list(data.get("attendance") or [])
    counted = [a for a in attendance if a.get("counted", True)]
    absent = [a for a in counted if a["status"] != "present"]
    resolutions = []
    for r in data.get("resolutions") or []:
        vote = r["vote"]
        share = vote["in_favour"] / vote["eligible"] if vote.get("eligible") else None
        resolutions.append({**r, "share": share})
    return {
        "meeting": m,
        "cell_name": m.get("cell_name") or m["cell_id"],
        "higher_name": path[-2]["name"] if len(path) >= 2 else None,
        "locality": locality(path[-2]["name"]) if len(path) >= 2 else None,
        "path": path,
        "present": [a for a in counted if a["status"] == "present"],
        "absent_excused": [a for a in absent if a["status"] == "absent_excused"],
        "absent_unexcused": [a for a in absent if a["status"] == "absent_unexcused"],
        "not_counted": [a for a in attendance if not a.get("counted", True)],
        "resolutions": resolutions,
        "tasks": list(data.get("tasks") or []),
        "materials": list(data.get("materials") or []),
    }


class MaterialPages:
    """Mixin: a meeting's materials and its minutes. Expects the reporting service's
    `db`, `clock`, `caller`, `config`, `feed` and `meetings` (an RPC proxy)."""

    db: Any
    clock: Any
    caller: Any
    config: Mapping[str, Any]
    feed: Any
    #: The meetings service over RPC (the service class's proxy): its materials' bytes
    #: and the attach command.
    meetings: Any

    def max_material_bytes(self) -> int:
        """The largest file meetings takes (MATERIALS.max_bytes, as meetings reads it)."""
        raw = ((getattr(self, "config", None) or {}).get("MATERIALS") or {}).get("max_bytes")
        try:
            return int(raw) if raw not in (None, "") else DEFAULT_MAX_BYTES
        except (TypeError, ValueError):
            return DEFAULT_MAX_BYTES

    def material_context(self, request: Request, meeting_id: str) -> dict[str, Any]:
        """What meeting.html needs for its materials section: whether to offer the
        upload form, the limit it states, and the confirmation after an upload."""
        return {"can_attach": bool(self.caller.allows(ATTACH_TO_MEETING,
                                                      {"meeting_id": meeting_id})),
                "can_read_minutes": bool(self.caller.allows(MINUTES_OF_MEETING,
                                                            {"meeting_id": meeting_id})),
                "attached": request.args.get("attached") or None,
                "upload_error": None, "max_material_mib": self.max_material_bytes() / 2**20,
                "attach_url": attach_url(meeting_id), "minutes_url": minutes_url(meeting_id)}

    # -- upload -------------------------------------------------------------------------

    @http("POST", "/reporting/meetings/<meeting_id>/materials")
    @html_errors
    @same_site_form
    @access(ATTACH_TO_MEETING)
    def attach_material_form(self, request: Request, meeting_id: str) -> Response:
        try:
            payload = self._upload_payload(request, meeting_id)
            answer = call_remote(self.meetings.attach_material, payload)
        except (ValidationFailed, NotFound) as exc:
            return self._meeting_with_error(request, meeting_id, exc)
        except ChiboError as exc:
            if exc.http_status in (403, 401):
                raise
            return self._meeting_with_error(request, meeting_id, exc)
        # The page lists it at once: reporting reads meetings' log rather than wait for
        # the bus to bring the event.
        self.feed.sync("meetings")
        return redirect(f"{urls.meeting(meeting_id)}?attached={answer['sha256']}", 303)

    def _upload_payload(self, request: Request, meeting_id: str) -> dict[str, Any]:
        limit = self.max_material_bytes()
        # Refused on the declared length before the form's file is read.
        if (request.content_length or 0) > limit + FORM_OVERHEAD_BYTES:
            raise ValidationFailed({"file": [self._too_large(limit)]})
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationFailed({"file": ["Chưa chọn tệp để tải lên (choose a file)."]})
        content = upload.stream.read(limit + 1)
        if len(content) > limit:
            raise ValidationFailed({"file": [self._too_large(limit)]})
        if not content:
            raise ValidationFailed({"file": ["Tệp rỗng (the file is empty)."]})
        name = upload_file_name(upload.filename)
        return {"meeting_id": meeting_id, "file_name": name,
                "media_type": declared_type(upload.mimetype, name),
                "content": base64.b64encode(content).decode("ascii")}

    @staticmethod
    def _too_large(limit: int) -> str:
        return (f"Tệp quá lớn: tối đa {limit / 2**20:.1f} MB (the file is larger than "
                f"{limit:,} bytes).")

    def _meeting_with_error(self, request: Request, meeting_id: str,
                            error: ChiboError) -> Response:
        shown = request_for(request, urls.meeting(meeting_id))
        with self.db.transaction() as session:
            data = queries.meeting(session, meeting_id, today=self.clock.now().date())
        if not sees_personal_data(self, "meeting", meeting_id):
            data = queries.without_personal_data(data)
        context = {**self.material_context(shown, meeting_id),
                   "upload_error": upload_message(error)}
        return render.render_page("meeting.html", shown, status_code=error.http_status,
                                  **views.meeting(data), **context)

    # -- download -----------------------------------------------------------------------

    @http("GET", "/reporting/meetings/<meeting_id>/materials/<sha256>")
    @html_errors
    @access(MATERIAL_OF_MEETING)
    def material_download(self, request: Request, meeting_id: str, sha256: str) -> Response:
        if not is_digest(sha256):
            raise NotFound("Không có tài liệu này (no such material).", field="sha256")
        found = call_remote(self.meetings.material, meeting_id, sha256)
        try:
            content = base64.b64decode(found["content"], validate=True)
        except (binascii.Error, ValueError, KeyError):
            raise ChiboError("Dịch vụ sinh hoạt trả về tệp hỏng (the meetings service "
                             "answered a damaged file).") from None
        return Response(content, headers=download_headers(found["file_name"],
                                                          found["media_type"]))

    # -- the minutes ----------------------------------------------------------------------

    @http("GET", "/reporting/meetings/<meeting_id>/minutes")
    @html_errors
    @access(MINUTES_OF_MEETING)
    def minutes_page(self, request: Request, meeting_id: str) -> Response:
        with self.db.transaction() as session:
            data = queries.meeting(session, meeting_id, today=self.clock.now().date())
        response = render.render_page("minutes.html", request, **minutes_context(data),
                                      meeting_url=urls.meeting(meeting_id))
        # It lists the absent members with their reasons: no browser or proxy keeps it.
        response.headers["Cache-Control"] = "no-store"
        return response


def upload_message(error: ChiboError) -> str:
    """What the form shows under the file field: the problem as the meetings service
    (or the form) stated it, without the generic prefix of a validation error."""
    fields = getattr(error, "fields", None)
    if isinstance(fields, Mapping) and fields:
        return "; ".join(str(p) for problems in fields.values()
                         for p in (problems if isinstance(problems, list) else [problems]))
    text = error.message
    prefix = "Dữ liệu không hợp lệ (invalid input): "
    return text[len(prefix):] if text.startswith(prefix) else text
