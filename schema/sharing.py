"""TLP, owning agency and shareWith: the fields of every record that carries sensitive data."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from hub.store.agencies import AGENCY
from hub.store.labs import LAB
from schema.agencies import Agency
from schema.common import Tlp, decode_ids, relation_field
from schema.labs import Lab
from schema.relations import ById, EachById

ShareTarget = Annotated[Agency | Lab, strawberry.union("ShareTarget", description="An agency or a lab.")]


@strawberry.interface(
    description="A record marked with TLP 2.0, owned by an agency (or, for a finding a lab reported, by the lab) and "
    "shared with others."
)
class SharedRecord:
    tlp: Tlp
    owner_agency_pk: strawberry.Private[int | None]
    share_agency_pks: strawberry.Private[list[int]]
    share_lab_pks: strawberry.Private[list[int]]

    owner_agency: Agency | None = relation_field(
        ById(AGENCY, "owner_agency_pk"),
        description="The agency that owns the record and decides whom it is shared with; null when a lab owns it "
        "(Finding.ownerLab).",
    )

    share_with: list[ShareTarget] = relation_field(
        EachById(((AGENCY, "share_agency_pks"), (LAB, "share_lab_pks"))),
        convert=lambda agencies, labs: (
            [Agency.from_row(r) for r in agencies if r] + [Lab.from_row(r) for r in labs if r]
        ),
        description="Agencies and labs the record is shared with (for TLP:AMBER).",
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
