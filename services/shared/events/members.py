"""Events the members service publishes, and what each carries.

Other services (meetings' roster replica, reporting, supervision) consume every
event here, so none carries birth dates or identity numbers: those travel only
in `member_personal_data_recorded`, whose personal fields are marked private
and are blanked by the relay and by `read_events` before leaving the service
(see docs/members.md). Every change carries the date it takes effect, which
may differ from the day it was recorded.
"""

from marshmallow import Schema, fields, validate

from chibo.contracts import Catalogue

catalogue = Catalogue()

REMOVAL_KINDS = ("struck_off", "expelled", "deceased", "moved_out")
RATING_LEVELS = ("excellent", "good", "complete", "failed")
ROLES = ("secretary", "deputy_secretary", "committee_member")
#: Why someone reads a member's personal details: xác minh hồ sơ (verifying a record),
#: chuyển sinh hoạt (a transfer), kiểm tra (an inspection), đính chính (a correction).
PERSONAL_DATA_PURPOSES = ("verification", "transfer", "inspection", "correction")
#: The private fields of `member_personal_data_recorded`, as a read names them.
PERSONAL_DATA_FIELDS = ("birth_date", "identity_number")


# -- the organisation tree --------------------------------------------------------

@catalogue.event("unit_established")
class UnitEstablished(Schema):
    """A node of the tree came into being under `parent_id` (none for the top)."""

    unit_id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    parent_id = fields.String(allow_none=True, load_default=None)
    effective_date = fields.Date(required=True)


@catalogue.event("unit_renamed")
class UnitRenamed(Schema):
    unit_id = fields.String(required=True)
    name = fields.String(required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("unit_moved")
class UnitMoved(Schema):
    """The unit and its whole subtree now sit under `parent_id`."""

    unit_id = fields.String(required=True)
    from_parent_id = fields.String(allow_none=True, load_default=None)
    parent_id = fields.String(required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("unit_dissolved")
class UnitDissolved(Schema):
    """The unit ceased to exist. `successor_id` is set when it was merged into another:
    reports regrouped by today's tree count its history under the successor."""

    unit_id = fields.String(required=True)
    reason = fields.String(required=True)
    successor_id = fields.String(allow_none=True, load_default=None)
    effective_date = fields.Date(required=True)


@catalogue.event("units_merged")
class UnitsMerged(Schema):
    """Recorded on the successor: these units were merged into it."""

    successor_id = fields.String(required=True)
    merged_ids = fields.List(fields.String(), required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("unit_split")
class UnitSplit(Schema):
    """Recorded on the unit that was split: its members went to these new units."""

    unit_id = fields.String(required=True)
    into_ids = fields.List(fields.String(), required=True)
    effective_date = fields.Date(required=True)


# -- members --------------------------------------------------------------------

@catalogue.event("member_admitted")
class MemberAdmitted(Schema):
    """Admitted (kết nạp) as a probationary member of a cell. Carries the name because
    meetings list members by name in their minutes. `member_code` is the national
    database's code, when known."""

    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    cell_id = fields.String(required=True)
    admitted_on = fields.Date(required=True)
    member_code = fields.String(allow_none=True, load_default=None)
    gender = fields.String(allow_none=True, load_default=None)


@catalogue.event("member_personal_data_recorded")
class MemberPersonalDataRecorded(Schema):
    """Personal data kept for the members service alone; blanked on the way out."""

    class Meta:
        private = PERSONAL_DATA_FIELDS

    member_id = fields.String(required=True)
    birth_date = fields.Date(allow_none=True, load_default=None)
    identity_number = fields.String(allow_none=True, load_default=None)


@catalogue.event("personal_data_read")
class PersonalDataRead(Schema):
    """Someone read a member's personal details: which `fields`, why (`purpose`) and
    through which page or route (`route`; none for a direct RPC call). The reader is
    the event's actor. Carries no personal value itself, so it travels like any other
    event and inspectors find it in the audit log. Its stream is the member's reads
    (`personal-reads-<member_id>`), apart from the member's own stream, so a read never
    moves the version a command on the member expects."""

    member_id = fields.String(required=True)
    purpose = fields.String(required=True, validate=validate.OneOf(PERSONAL_DATA_PURPOSES))
    route = fields.String(allow_none=True, load_default=None)
    # Declared last: below it, the class body's name `fields` would be this field, not
    # the module. marshmallow takes declared fields off the class, so it does not hide
    # Schema.fields (hence the ignore: mypy sees only the assignment).
    fields = fields.List(  # type: ignore[assignment]
        fields.String(validate=validate.OneOf(PERSONAL_DATA_FIELDS)), required=True)


@catalogue.event("member_renamed")
class MemberRenamed(Schema):
    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("membership_confirmation_due")
class MembershipConfirmationDue(Schema):
    """Reminder: 12 months after admission the cell must consider full membership."""

    member_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    due_on = fields.Date(required=True)


@catalogue.event("member_confirmed")
class MemberConfirmed(Schema):
    """Became a full member (đảng viên chính thức)."""

    member_id = fields.String(required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("member_transferred")
class MemberTransferred(Schema):
    """Official transfer. `to_cell_id` is empty when the member left the province for
    `to_organisation`. `cause` says whether a person asked or a merge/split moved them."""

    member_id = fields.String(required=True)
    from_cell_id = fields.String(required=True)
    to_cell_id = fields.String(allow_none=True, load_default=None)
    to_organisation = fields.String(allow_none=True, load_default=None)
    cause = fields.String(load_default="transfer",
                          validate=validate.OneOf(("transfer", "merge", "split")))
    effective_date = fields.Date(required=True)


@catalogue.event("member_temporarily_transferred")
class MemberTemporarilyTransferred(Schema):
    """Attends elsewhere from `from_date` until `until_date` (3 months to 2 years)."""

    member_id = fields.String(required=True)
    from_cell_id = fields.String(required=True)
    to_cell_id = fields.String(allow_none=True, load_default=None)
    to_organisation = fields.String(allow_none=True, load_default=None)
    from_date = fields.Date(required=True)
    until_date = fields.Date(required=True)


@catalogue.event("member_exempted")
class MemberExempted(Schema):
    """Exempt from party work and meetings (miễn công tác và sinh hoạt đảng)."""

    member_id = fields.String(required=True)
    reason = fields.String(required=True)
    from_date = fields.Date(required=True)


@catalogue.event("member_working_away")
class MemberWorkingAway(Schema):
    """Working away (đi làm ăn xa): excused from meetings for the period."""

    member_id = fields.String(required=True)
    reason = fields.String(required=True)
    from_date = fields.Date(required=True)
    until_date = fields.Date(allow_none=True, load_default=None)


@catalogue.event("member_returned")
class MemberReturned(Schema):
    """Back to attending: ends an exemption, a time away or a temporary transfer."""

    member_id = fields.String(required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("member_removed")
class MemberRemoved(Schema):
    member_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(REMOVAL_KINDS))
    reason = fields.String(required=True)
    effective_date = fields.Date(required=True)


@catalogue.event("member_rated")
class MemberRated(Schema):
    """Annual rating (đánh giá, xếp loại)."""

    member_id = fields.String(required=True)
    year = fields.Integer(required=True)
    level = fields.String(required=True, validate=validate.OneOf(RATING_LEVELS))


# -- cell roles -----------------------------------------------------------------

@catalogue.event("cell_role_assigned")
class CellRoleAssigned(Schema):
    cell_id = fields.String(required=True)
    member_id = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    term_from = fields.Date(required=True)
    term_until = fields.Date(allow_none=True, load_default=None)


@catalogue.event("cell_role_ended")
class CellRoleEnded(Schema):
    cell_id = fields.String(required=True)
    member_id = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    effective_date = fields.Date(required=True)


# -- accounts -------------------------------------------------------------------
# Who may sign in and with which roles. Password hashes, second-factor secrets and
# failed-login counts never travel in an event: they stay in members' own tables.

@catalogue.event("account_opened")
class AccountOpened(Schema):
    """An account people sign in with. `member_id` links it to a member (a cell
    secretary's account then carries the secretary role of their cell);
    `external_id` ("issuer|subject") to an identity provider's user (OpenID Connect)."""

    account_id = fields.String(required=True)
    login = fields.String(required=True)
    display_name = fields.String(required=True)
    member_id = fields.String(allow_none=True, load_default=None)
    external_id = fields.String(allow_none=True, load_default=None)


@catalogue.event("password_changed")
class PasswordChanged(Schema):
    """The account's password was set: by its holder, or reset by an administrator."""

    account_id = fields.String(required=True)
    reset_by_admin = fields.Boolean(required=True)


@catalogue.event("role_granted")
class RoleGranted(Schema):
    """`role` over the subtree of `unit_id` (none: the whole province) for the dates."""

    account_id = fields.String(required=True)
    role = fields.String(required=True)
    unit_id = fields.String(allow_none=True, load_default=None)
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(allow_none=True, load_default=None)


@catalogue.event("role_revoked")
class RoleRevoked(Schema):
    """The grant of `role` on `unit_id` ends: its last day is the day before `on`."""

    account_id = fields.String(required=True)
    role = fields.String(required=True)
    unit_id = fields.String(allow_none=True, load_default=None)
    on = fields.Date(required=True)


@catalogue.event("second_factor_enabled")
class SecondFactorEnabled(Schema):
    """Signing in now needs a one-time code (TOTP) besides the password."""

    account_id = fields.String(required=True)


@catalogue.event("second_factor_disabled")
class SecondFactorDisabled(Schema):
    account_id = fields.String(required=True)


@catalogue.event("account_closed")
class AccountClosed(Schema):
    """Nobody signs in with the account any more; its history stays."""

    account_id = fields.String(required=True)
