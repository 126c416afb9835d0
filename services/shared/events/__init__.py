"""The events each service publishes, one module per source: the contracts between the
services. `catalogue` holds them all in one, for reporting and the audit."""

from chibo.contracts import Catalogue
from services.shared.events import meetings, members, supervision

catalogue = Catalogue()
for part in (members.catalogue, meetings.catalogue, supervision.catalogue):
    catalogue.include(part)

SOURCES = ("members", "meetings", "supervision")
