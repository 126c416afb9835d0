"""Every service's event catalogue in one: what reporting and the audit read."""

from chibo.contracts import Catalogue
from services.meetings.events import catalogue as meetings
from services.members.events import catalogue as members
from services.supervision.events import catalogue as supervision

catalogue = Catalogue()
for part in (members, meetings, supervision):
    catalogue.include(part)

SOURCES = ("members", "meetings", "supervision")
