"""TLP, owning agency and shareWith: the fields of every record that carries sensitive data."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from hub.loaders import now_or_later_many
from hub.store.agencies import AGENCY
from hub.store.labs import LAB
from schema.agencies import Agency, load_agency
from schema.common import Tlp, ctx, decode_ids
from schema.labs import Lab

ShareTarget = Annotated[Agency | Lab, strawberry.union("ShareTarget", description="An agency or a lab.")]


@strawberry.interface(description="A record marked with TLP 2.0, owned by an agency and shared with others.")
class SharedRecord:
    tlp: Tlp
    owner_agency_pk: strawberry.Private[int | None]
    share_agency_pks: strawberry.Private[list[int]]
    share_lab_pks: strawberry.Private[list[int]]

    @strawberry.field(description="The agency that owns the record and decides whom it is shared with.")
    def owner_agency(self, info: strawberry.Info) -> Agency | None:
        return load_agency(info, self.owner_agency_pk)

    @strawberry.field(description="Agencies and labs the record is shared with (for TLP:AMBER).")
    def share_with(self, info: strawberry.Info) -> list[ShareTarget]:
        loaders = ctx(info).loaders
        return now_or_later_many(
            [(loaders.by_id(AGENCY), self.share_agency_pks), (loaders.by_id(LAB), self.share_lab_pks)],
            lambda agencies, labs: [Agency.from_row(r) for r in agencies if r] + [Lab.from_row(r) for r in labs if r],
        )


def sharing_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "tlp": Tlp(row["tlp"]),
        "owner_agency_pk": row["owner_agency_id"],
        "share_agency_pks": list(row["share_agency_ids"]),
        "share_lab_pks": list(row["share_lab_ids"]),
    }


def sharing_values(data: Any) -> dict[str, Any]:
    """The store values of an input's tlp, shareWithAgencyIds, shareWithLabIds and recipientIds."""
    return {
        "tlp": data.tlp.value,
        "share_agency_ids": decode_ids(data.share_with_agency_ids, "Agency", field="input.shareWithAgencyIds") or [],
        "share_lab_ids": decode_ids(data.share_with_lab_ids, "Lab", field="input.shareWithLabIds") or [],
        "recipient_principal_ids": decode_ids(data.recipient_ids, "Principal", field="input.recipientIds") or [],
    }
