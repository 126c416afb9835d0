"""The members HTTP API as OpenAPI routes: one POST per command, plus the queries."""

from __future__ import annotations

from chibo.openapi import Route, document
from services.members import commands

#: Command name (also its RPC method) → (body schema, summary).
COMMANDS = {
    "establish_unit": (commands.EstablishUnit, "Thành lập tổ chức (establish a unit)"),
    "rename_unit": (commands.RenameUnit, "Đổi tên (rename a unit)"),
    "move_unit": (commands.MoveUnit, "Chuyển trực thuộc, cả cây con (move a subtree)"),
    "dissolve_unit": (commands.DissolveUnit, "Giải thể (dissolve a unit)"),
    "merge_units": (commands.MergeUnits, "Hợp nhất (merge units into a successor)"),
    "split_unit": (commands.SplitUnit, "Chia tách (split a unit)"),
    "admit_member": (commands.AdmitMember, "Kết nạp đảng viên (admit, probationary)"),
    "confirm_member": (commands.ConfirmMember, "Công nhận chính thức (confirm as full)"),
    "transfer_member": (commands.TransferMember, "Chuyển sinh hoạt chính thức (transfer)"),
    "transfer_temporarily": (commands.TransferTemporarily,
                             "Chuyển sinh hoạt tạm thời (temporary transfer, 3 months–2 years)"),
    "exempt_member": (commands.ExemptMember, "Miễn sinh hoạt (exempt from meetings)"),
    "mark_working_away": (commands.MarkWorkingAway, "Đi làm ăn xa (working away)"),
    "record_return": (commands.RecordReturn, "Trở lại sinh hoạt (return)"),
    "remove_member": (commands.RemoveMember,
                      "Xóa tên, khai trừ, từ trần, chuyển đi (remove from the rolls)"),
    "rate_member": (commands.RateMember, "Xếp loại hằng năm (annual rating)"),
    "assign_role": (commands.AssignRole, "Phân công chức danh chi bộ (assign a cell role)"),
    "end_role": (commands.EndRole, "Kết thúc nhiệm kỳ chức danh (end a cell role)"),
}

ON = ("on", "ngày (date) YYYY-MM-DD; default today")

ROUTES = [
    *(Route("POST", f"/members/commands/{name}", summary, body=schema, status=201)
      for name, (schema, summary) in COMMANDS.items()),
    Route("POST", "/members/import-batches", "Nhập danh sách (import roster rows)",
          body=commands.ImportBatch),
    Route("GET", "/members/tree", "Cây tổ chức tại một ngày (the tree as of a date)",
          query=[ON]),
    Route("GET", "/members/units/{unit_id}",
          "Tổ chức: đường dẫn hôm nay và tại ngày, chi bộ trực thuộc (path, cells covered)",
          query=[ON]),
    Route("GET", "/members/cells/{cell_id}/roll",
          "Ai phải dự, ai được miễn và lý do (who must attend; who is excused and why)",
          query=[ON]),
    Route("GET", "/members/cells/{cell_id}/roles",
          "Chức danh chi bộ, cảnh báo thiếu chi ủy (roles; committee flag)", query=[ON]),
    Route("GET", "/members/members/{member_id}", "Đảng viên (a member's record)"),
]


def openapi() -> dict:
    return document("chibo members", "1", ROUTES)
