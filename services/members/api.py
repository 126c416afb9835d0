"""The members HTTP API as OpenAPI routes: one POST per registered command (see
handlers.py), the roster import, and the queries."""

from __future__ import annotations

from marshmallow import Schema, fields

from chibo.commands import command_routes
from chibo.openapi import Route, document
from services.members import commands, handlers

ON = ("on", "ngày (date) YYYY-MM-DD; default today")


class OpenAccountBody(commands.OpenAccount):
    password = fields.String(required=True, metadata={"description": "at least 10 characters"})


class PasswordBody(Schema):
    password = fields.String(required=True, metadata={"description": "at least 10 characters"})


class ChangePasswordBody(Schema):
    old_password = fields.String(required=True)
    new_password = fields.String(required=True)


class SignInBody(Schema):
    login = fields.String(required=True)
    password = fields.String(required=True)
    totp = fields.String(load_default=None, allow_none=True,
                         metadata={"description": "the authenticator's code, when enabled"})

ROUTES = [
    *command_routes("members", handlers.registry),
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
    Route("POST", "/members/auth/token",
          "Đăng nhập, nhận mã truy cập cho API/CLI (sign in: a bearer token)",
          body=SignInBody, status=201),
    Route("GET", "/members/auth/me", "Tài khoản đang đăng nhập (who am I, with my roles)"),
    Route("POST", "/members/auth/password", "Đổi mật khẩu của mình (change my password)",
          body=ChangePasswordBody, status=201),
    Route("POST", "/members/auth/second-factor",
          "Đăng ký xác thực hai lớp: mã otpauth:// (enrol TOTP; confirm with "
          "confirm_second_factor)", status=201),
    Route("POST", "/members/accounts", "Mở tài khoản (open an account)", body=OpenAccountBody,
          status=201),
    Route("GET", "/members/accounts/{account_id}", "Tài khoản (an account, without secrets)"),
    Route("POST", "/members/accounts/{account_id}/password",
          "Đặt lại mật khẩu (reset a password)", body=PasswordBody, status=201),
]


def openapi() -> dict:
    return document("chibo members", "1", ROUTES)
