"""chibo's roles and what each may do (docs/security.md has the table in prose).

A grant gives a role over a unit's subtree as of dates; the services declare which
permission each route, RPC method and command needs (`chibo.access.Access`)."""

from __future__ import annotations

from chibo.access import RoleBook

#: Dashboards, figures and exports of a subtree (no personal details beyond names).
VIEW_REPORTS = "view_reports"
#: Members' records and rolls: personal data under Law 91/2025/QH15.
VIEW_PERSONAL = "view_personal"
#: A member's birth date and identity number, read one member at a time for a stated
#: purpose; every read is recorded in the members service's log (docs/members.md).
READ_PERSONAL_DETAILS = "read_personal_details"
#: The audit log, its traces and its checks.
VIEW_AUDIT = "view_audit"
#: The tree and the rosters: units, restructures, imports, members, cell roles.
MANAGE_ORGANISATION = "manage_organisation"
#: A cell's meetings: schedule, record, attendance, resolutions, tasks, self-scores.
RECORD_MEETINGS = "record_meetings"
#: Visits to cells and the quality scores they confirm.
SUPERVISE = "supervise"
#: Acknowledge and resolve escalations.
HANDLE_ESCALATIONS = "handle_escalations"
#: Accounts, passwords and role grants.
MANAGE_ACCESS = "manage_access"
#: Running the system: metrics, rebuilds, the services' own logs read back.
OPERATE = "operate"

ADMIN = "admin"
STAFF = "staff"
SUPERVISOR = "supervisor"
SECRETARY = "secretary"
INSPECTOR = "inspector"
VIEWER = "viewer"
SERVICE = "service"

ROLE_LABELS = {
    ADMIN: "Quản trị viên cấp tỉnh (provincial administrator)",
    STAFF: "Cán bộ Ban Tổ chức (organisation-board staff)",
    SUPERVISOR: "Cấp ủy viên theo dõi (supervising committee member)",
    SECRETARY: "Bí thư / Phó Bí thư chi bộ (cell secretary or deputy)",
    INSPECTOR: "Ủy ban Kiểm tra (inspector)",
    VIEWER: "Người xem (viewer)",
    SERVICE: "Dịch vụ (a chibo service)",
}

EVERYTHING = (VIEW_REPORTS, VIEW_PERSONAL, READ_PERSONAL_DETAILS, VIEW_AUDIT,
              MANAGE_ORGANISATION, RECORD_MEETINGS, SUPERVISE, HANDLE_ESCALATIONS, MANAGE_ACCESS,
              OPERATE)

ROLES = RoleBook({
    ADMIN: EVERYTHING,
    STAFF: (VIEW_REPORTS, VIEW_PERSONAL, READ_PERSONAL_DETAILS, MANAGE_ORGANISATION,
            HANDLE_ESCALATIONS),
    SUPERVISOR: (VIEW_REPORTS, VIEW_PERSONAL, SUPERVISE, HANDLE_ESCALATIONS),
    SECRETARY: (VIEW_REPORTS, VIEW_PERSONAL, RECORD_MEETINGS),
    INSPECTOR: (VIEW_REPORTS, VIEW_PERSONAL, READ_PERSONAL_DETAILS, VIEW_AUDIT),
    VIEWER: (VIEW_REPORTS,),
    SERVICE: EVERYTHING,
})

#: Roles an administrator may grant (the service role belongs to services alone).
GRANTABLE = (ADMIN, STAFF, SUPERVISOR, SECRETARY, INSPECTOR, VIEWER)
