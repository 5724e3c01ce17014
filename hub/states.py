"""The state machines, one per entity, in one place: state -> the states it may move to.

Nothing here gates a model's release: a model's release status moves by the lab's word alone.
"""

from __future__ import annotations

MACHINES: dict[str, dict[str, tuple[str, ...]]] = {
    # participation is the lab's own choice; DECLINED and WITHDRAWN from anywhere, a new invitation after them
    "LAB": {
        "INVITED": ("ENGAGED", "DECLINED", "WITHDRAWN"),
        "ENGAGED": ("PARTICIPATING", "DECLINED", "WITHDRAWN"),
        "PARTICIPATING": ("WITHDRAWN",),
        "DECLINED": ("INVITED",),
        "WITHDRAWN": ("INVITED",),
    },
    "MODEL": {
        "IN_DEVELOPMENT": ("RESTRICTED_PREVIEW", "GENERALLY_AVAILABLE", "DEPRECATED"),
        "RESTRICTED_PREVIEW": ("IN_DEVELOPMENT", "GENERALLY_AVAILABLE", "DEPRECATED"),
        "GENERALLY_AVAILABLE": ("DEPRECATED",),
        "DEPRECATED": (),
    },
    "AGREEMENT": {
        "PROPOSED": ("ACTIVE", "WITHDRAWN_BY_LAB", "TERMINATED"),
        "ACTIVE": ("COMPLETED", "WITHDRAWN_BY_LAB", "TERMINATED"),
        "COMPLETED": (),
        "WITHDRAWN_BY_LAB": (),
        "TERMINATED": (),
    },
    "STANDARD": {
        "DRAFT": ("IN_REVIEW", "WITHDRAWN"),
        "IN_REVIEW": ("ADOPTED", "DRAFT", "WITHDRAWN"),
        "ADOPTED": ("SUPERSEDED",),
        "SUPERSEDED": (),
        "WITHDRAWN": (),
    },
    "DECISION": {
        "REQUESTED": ("UNDER_ASSESSMENT", "WITHDRAWN", "SUPERSEDED"),
        "UNDER_ASSESSMENT": ("DECIDED", "WITHDRAWN", "SUPERSEDED"),
        "DECIDED": ("RECONSIDERATION_REQUESTED", "SUPERSEDED"),
        "RECONSIDERATION_REQUESTED": ("DECIDED", "WITHDRAWN", "SUPERSEDED"),
        "SUPERSEDED": (),
        "WITHDRAWN": (),
    },
    "FINDING": {
        "REPORTED": ("TRIAGED", "DUPLICATE", "REJECTED"),
        "TRIAGED": ("VALIDATED", "DUPLICATE", "REJECTED"),
        "VALIDATED": ("COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED"),
        "COORDINATING": ("MITIGATION_AVAILABLE", "DISCLOSED"),
        "MITIGATION_AVAILABLE": ("DISCLOSED", "REMEDIATED"),
        "DISCLOSED": ("REMEDIATED",),
        "REMEDIATED": (),
        "DUPLICATE": ("REPORTED",),
        "REJECTED": ("REPORTED",),
    },
    "MEASURE": {
        "PLANNED": ("DEPLOYING", "SUSPENDED", "RETIRED"),
        "DEPLOYING": ("DEPLOYED", "SUSPENDED", "RETIRED"),
        "DEPLOYED": ("VERIFIED", "SUSPENDED", "RETIRED"),
        "VERIFIED": ("SUSPENDED", "RETIRED"),
        "SUSPENDED": ("DEPLOYING", "RETIRED"),
        "RETIRED": (),
    },
    "ENGAGEMENT": {
        "PROPOSED": ("SCOPING", "DECLINED", "WITHDRAWN"),
        "SCOPING": ("ACTIVE", "PAUSED", "DECLINED", "WITHDRAWN"),
        "ACTIVE": ("COMPLETED", "PAUSED", "WITHDRAWN"),
        "PAUSED": ("ACTIVE", "SCOPING", "WITHDRAWN"),
        "COMPLETED": (),
        "DECLINED": (),
        "WITHDRAWN": (),
    },
}
