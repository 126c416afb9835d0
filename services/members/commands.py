"""Command schemas: what callers may send, checked field by field."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from chibo import inputs
from services.shared import settings
from services.shared.access_roles import GRANTABLE
from services.shared.events.members import RATING_LEVELS, REMOVAL_KINDS, ROLES
from services.shared.text import Name, new_id
from services.shared.tree import UnitKinds, default_kinds

#: The unit kinds a unit may be established as: those the service's config names, set
#: when the service starts (`configured`); the packaged kinds until then.
_kinds: UnitKinds | None = None


def configured(config: dict[str, Any]) -> settings.SharedSettings:
    """The service's shared settings, loaded from its config; the command schemas check
    a unit's kind against the kinds they name."""
    global _kinds
    loaded = settings.from_config(config)
    _kinds = loaded.kinds
    return loaded

Id = lambda **kw: fields.String(validate=validate.Length(min=1, max=100), **kw)  # noqa: E731
Reason = lambda **kw: fields.String(validate=validate.Length(min=1, max=1000), **kw)  # noqa: E731


class EstablishUnit(Schema):
    unit_id = Id(load_default=new_id)
    name = Name()
    kind = fields.String(required=True)
    parent_id = Id(load_default=None, allow_none=True)
    effective_date = inputs.Date(required=True)

    @validates("kind")
    def _a_configured_kind(self, value: str, data_key: str) -> None:
        kinds = default_kinds() if _kinds is None else _kinds
        if value not in kinds:
            raise ValidationError(f"Must be one of: {', '.join(kinds)}.")


class RenameUnit(Schema):
    unit_id = Id(required=True)
    name = Name()
    effective_date = inputs.Date(required=True)


class MoveUnit(Schema):
    unit_id = Id(required=True)
    parent_id = Id(required=True)
    effective_date = inputs.Date(required=True)


class DissolveUnit(Schema):
    unit_id = Id(required=True)
    reason = Reason(required=True)
    effective_date = inputs.Date(required=True)


class MergeUnits(Schema):
    merged_ids = fields.List(Id(), required=True, validate=validate.Length(min=1))
    successor_id = Id(required=True)
    effective_date = inputs.Date(required=True)


class NewUnit(Schema):
    unit_id = Id(required=True)
    name = Name()


class SplitUnit(Schema):
    unit_id = Id(required=True)
    into = fields.List(fields.Nested(NewUnit), required=True, validate=validate.Length(min=2))
    assignments = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    effective_date = inputs.Date(required=True)


class AdmitMember(Schema):
    member_id = Id(load_default=new_id)
    full_name = Name()
    cell_id = Id(required=True)
    admitted_on = inputs.Date(required=True)
    member_code = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(min=1, max=40))
    gender = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(("male", "female")))
    birth_date = inputs.Date(load_default=None, allow_none=True)
    identity_number = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Regexp(r"^\d{9,12}$"))


class ConfirmMember(Schema):
    member_id = Id(required=True)
    effective_date = inputs.Date(required=True)


class TransferMember(Schema):
    member_id = Id(required=True)
    to_cell_id = Id(load_default=None, allow_none=True)
    to_organisation = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(min=1, max=300))
    effective_date = inputs.Date(required=True)


class TransferTemporarily(Schema):
    member_id = Id(required=True)
    to_cell_id = Id(load_default=None, allow_none=True)
    to_organisation = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(min=1, max=300))
    from_date = inputs.Date(required=True)
    until_date = inputs.Date(required=True)


class ExemptMember(Schema):
    member_id = Id(required=True)
    reason = Reason(required=True)
    from_date = inputs.Date(required=True)


class MarkWorkingAway(Schema):
    member_id = Id(required=True)
    reason = Reason(required=True)
    from_date = inputs.Date(required=True)
    until_date = inputs.Date(load_default=None, allow_none=True)


class RecordReturn(Schema):
    member_id = Id(required=True)
    effective_date = inputs.Date(required=True)


class RemoveMember(Schema):
    member_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(REMOVAL_KINDS))
    reason = Reason(required=True)
    effective_date = inputs.Date(required=True)


class RateMember(Schema):
    member_id = Id(required=True)
    year = inputs.Year(minimum=1930, required=True)
    level = fields.String(required=True, validate=validate.OneOf(RATING_LEVELS))


class AssignRole(Schema):
    cell_id = Id(required=True)
    member_id = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    term_from = inputs.Date(required=True)
    term_until = inputs.Date(load_default=None, allow_none=True)


class EndRole(Schema):
    cell_id = Id(required=True)
    member_id = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    effective_date = inputs.Date(required=True)


IMPORT_STATUSES = ("probationary", "full", "exempt", "moved_out", "deceased", "struck_off",
                   "expelled")


class ImportRow(Schema):
    line = inputs.Integer(1, inputs.MAX_WHOLE_NUMBER, required=True)
    member_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    full_name = Name()
    birth_date = inputs.Date(load_default=None, allow_none=True)
    gender = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(("male", "female")))
    cell_code = Id(required=True)
    admitted_on = inputs.Date(required=True)
    full_member_on = inputs.Date(load_default=None, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(IMPORT_STATUSES))


class ImportBatch(Schema):
    rows = fields.List(fields.Nested(ImportRow), required=True,
                       validate=validate.Length(max=5000))


# -- accounts -----------------------------------------------------------------------
# Passwords are not fields of these schemas: the entrypoints take them out of the body
# before the command runs (a command's body digest is kept in the command log), and the
# handlers check them against the password policy.

Login = lambda **kw: fields.String(  # noqa: E731
    validate=[validate.Length(min=3, max=100),
              validate.Regexp(r"^[A-Za-z0-9._@+-]+$",
                              error="Chữ, số và . _ @ + - (letters, digits and . _ @ + -).")],
    **kw)


class OpenAccount(Schema):
    account_id = Id(load_default=new_id)
    login = Login(required=True)
    display_name = Name()
    member_id = Id(load_default=None, allow_none=True)


class ResetPassword(Schema):
    account_id = Id(required=True)


class ChangePassword(Schema):
    """The signed-in account's own password (old and new travel beside the body)."""


class GrantRole(Schema):
    account_id = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(GRANTABLE))
    unit_id = Id(load_default=None, allow_none=True)
    valid_from = inputs.Date(required=True)
    valid_until = inputs.Date(load_default=None, allow_none=True)


class RevokeRole(Schema):
    account_id = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(GRANTABLE))
    unit_id = Id(load_default=None, allow_none=True)
    on = inputs.Date(required=True)


class CloseAccount(Schema):
    account_id = Id(required=True)


class ConfirmSecondFactor(Schema):
    """The first code the authenticator app shows after enrolment."""

    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$"))


class DisableSecondFactor(Schema):
    account_id = Id(required=True)
