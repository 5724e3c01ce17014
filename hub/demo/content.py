"""The fixed content of the demo: labs, models and the vocabularies the generator draws from.

Only the order's three labs are real (OpenAI, Anthropic, Google), and of them only public facts: names, model
identifiers and public announcement dates (Claude Mythos Preview as Anthropic announced it: a restricted preview,
not offered generally). Everything the program holds about any lab (participation, agreements, confidential model
data, coverage decisions, findings, measures, engagements) is fictional and marked so. Every other lab is
fictional, with "(fictional)" in its name and in its models' names, and fictional places in counterparties say so
too (docs/design.md, "Demo data").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

AGENCY_CODES = ("CISA", "NIST", "DOD", "NSA", "TREASURY", "ODNI", "DOE", "HHS", "EPA")
LIAISON_LABS = ("Anthropic", "OpenAI", "Google")

SECTORS = (
    "CHEMICAL",
    "COMMERCIAL_FACILITIES",
    "COMMUNICATIONS",
    "CRITICAL_MANUFACTURING",
    "DAMS",
    "DEFENSE_INDUSTRIAL_BASE",
    "EMERGENCY_SERVICES",
    "ENERGY",
    "FINANCIAL_SERVICES",
    "FOOD_AND_AGRICULTURE",
    "GOVERNMENT_FACILITIES",
    "HEALTHCARE_AND_PUBLIC_HEALTH",
    "INFORMATION_TECHNOLOGY",
    "NUCLEAR_REACTORS_MATERIALS_AND_WASTE",
    "TRANSPORTATION_SYSTEMS",
    "WATER_AND_WASTEWATER_SYSTEMS",
)

# The sector risk management agency among the program's agencies, shared on AMBER engagements in its sector.
SECTOR_AGENCY = {
    "DEFENSE_INDUSTRIAL_BASE": "DOD",
    "ENERGY": "DOE",
    "NUCLEAR_REACTORS_MATERIALS_AND_WASTE": "DOE",
    "FINANCIAL_SERVICES": "TREASURY",
    "HEALTHCARE_AND_PUBLIC_HEALTH": "HHS",
    "WATER_AND_WASTEWATER_SYSTEMS": "EPA",
}


def demo_officer_name(agency_code: str) -> str:
    """The name of the demo OFFICER principal of an agency (the CLI issues demo tokens by this name)."""
    return f"{agency_code} demo officer"


def demo_liaison_name(lab_name: str) -> str:
    """The name of the demo LAB_LIAISON principal of a lab (the CLI issues demo tokens by this name)."""
    return f"{lab_name} demo liaison"


DEMO_PRINCIPAL_NAMES = tuple(demo_officer_name(code) for code in AGENCY_CODES) + tuple(
    demo_liaison_name(lab) for lab in LIAISON_LABS
)


# --------------------------------------------------------------------------------------------------- labs


@dataclass(frozen=True)
class LabSpec:
    name: str
    legal_name: str | None
    country: str
    website: str | None
    participation: str


# The order's three labs. Their participation here is a fictional demo state, like every program record about them.
REAL_LABS = (
    LabSpec("OpenAI", "OpenAI OpCo, LLC", "US", "https://openai.com", "PARTICIPATING"),
    LabSpec("Anthropic", "Anthropic PBC", "US", "https://www.anthropic.com", "PARTICIPATING"),
    LabSpec("Google", "Google LLC", "US", "https://deepmind.google", "PARTICIPATING"),
)


def is_fictional(name: str) -> bool:
    """True for the demo's fictional labs and models, which say so in their names."""
    return name.endswith("(fictional)")


def _fictional_lab(name: str, legal_suffix: str, country: str, domain: str, participation: str) -> LabSpec:
    return LabSpec(
        f"{name} (fictional)",
        f"{name} {legal_suffix} (fictional)",
        country,
        f"https://{domain}.example",
        participation,
    )


# Declined and withdrawn participation goes to fictional labs only: it would be a claim about a real company. The
# first five have hand-written model lines (FICTIONAL_MODELS), as varied as large labs' are; the others get
# generated families (FICTIONAL_FAMILIES).
FICTIONAL_LABS = (
    _fictional_lab("Quillwort Open Models", "Inc.", "US", "quillwort", "ENGAGED"),
    _fictional_lab("Saltmarsh AI", "Corp.", "US", "saltmarsh-ai", "INVITED"),
    _fictional_lab("Vercors Intelligence", "SAS", "FR", "vercors-ia", "ENGAGED"),
    _fictional_lab("Keelson Cloud AI", "Inc.", "US", "keelson", "PARTICIPATING"),
    _fictional_lab("Osprey Point Research", "Inc.", "US", "ospreypoint", "PARTICIPATING"),
    _fictional_lab("Northwind AI", "Inc.", "US", "northwind-ai", "PARTICIPATING"),
    _fictional_lab("Blue Heron Labs", "LLC", "US", "blueheron", "PARTICIPATING"),
    _fictional_lab("Cascadia Machine Intelligence", "Inc.", "US", "cascadia-mi", "ENGAGED"),
    _fictional_lab("Prairie Logic", "Inc.", "US", "prairielogic", "INVITED"),
    _fictional_lab("Granite State AI", "LLC", "US", "granitestate-ai", "DECLINED"),
    _fictional_lab("Lakeshore Reasoning", "Inc.", "US", "lakeshore", "WITHDRAWN"),
    _fictional_lab("Thames Foundation Models", "Ltd", "GB", "thames-fm", "PARTICIPATING"),
    _fictional_lab("Kestrel Research", "Ltd", "GB", "kestrel", "ENGAGED"),
    _fictional_lab("Lumiere Intelligence", "SAS", "FR", "lumiere-ia", "INVITED"),
    _fictional_lab("Rheinwerk KI", "GmbH", "DE", "rheinwerk-ki", "PARTICIPATING"),
    _fictional_lab("Helvetia Neural", "AG", "CH", "helvetia-neural", "DECLINED"),
    _fictional_lab("Polder Intelligence", "B.V.", "NL", "polder", "ENGAGED"),
    _fictional_lab("Oresund AI", "AB", "SE", "oresund-ai", "WITHDRAWN"),
    _fictional_lab("Maple Leaf Cognition", "Inc.", "CA", "mapleleaf", "PARTICIPATING"),
    _fictional_lab("Sakura Compute Labs", "K.K.", "JP", "sakura-compute", "ENGAGED"),
    _fictional_lab("Hangang AI", "Co., Ltd.", "KR", "hangang-ai", "INVITED"),
    _fictional_lab("Carmel Reasoning", "Ltd", "IL", "carmel", "PARTICIPATING"),
    _fictional_lab("Dune Sea AI", "LLC", "AE", "dunesea", "INVITED"),
    _fictional_lab("Merlion Models", "Pte. Ltd.", "SG", "merlion", "ENGAGED"),
    _fictional_lab("Deccan AI Labs", "Pvt. Ltd.", "IN", "deccan-ai", "DECLINED"),
    _fictional_lab("Southern Cross AI", "Pty Ltd", "AU", "southerncross", "WITHDRAWN"),
    _fictional_lab("Tamarack Intelligence", "Inc.", "US", "tamarack", "PARTICIPATING"),
)

DEMO_LABS = REAL_LABS + FICTIONAL_LABS


# --------------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    lab: str
    name: str
    model_version: str
    modality: str
    capabilities: tuple[str, ...]
    release_status: str
    announced_on: date | None


_CODE = ("code", "reasoning", "tool-use")
_CYBER = ("code", "vulnerability-discovery", "agentic", "reasoning", "tool-use")
_CHAT = ("reasoning", "multilingual", "long-context")


def _m(
    lab: str,
    name: str,
    version: str,
    modality: str,
    capabilities: tuple[str, ...],
    status: str,
    announced: str | None,
) -> ModelSpec:
    announced_on = date.fromisoformat(announced) if announced else None
    return ModelSpec(lab, name, version, modality, capabilities, status, announced_on)


GA = "GENERALLY_AVAILABLE"
DEPRECATED = "DEPRECATED"
PREVIEW = "RESTRICTED_PREVIEW"
IN_DEVELOPMENT = "IN_DEVELOPMENT"

# The order's three labs' publicly announced models. Dates are the public announcements (to the day where known);
# release statuses simplify each lab's public lifecycle. Claude Mythos Preview: announced on 2026-04-07 as a
# restricted preview for defensive cybersecurity partners, which Anthropic said it does not plan to make generally
# available (NOT_PLANNED_FOR_GENERAL_AVAILABILITY).
# fmt: off
REAL_MODELS = (
    _m("OpenAI", "GPT-4", "gpt-4-0613", "MULTIMODAL", (*_CHAT, "code"), DEPRECATED, "2023-03-14"),
    _m("OpenAI", "GPT-4 Turbo", "gpt-4-turbo-2024-04-09", "MULTIMODAL",
       (*_CHAT, "code"), DEPRECATED, "2023-11-06"),
    _m("OpenAI", "GPT-4o", "gpt-4o-2024-05-13", "MULTIMODAL",
       (*_CHAT, "code", "vision", "speech"), GA, "2024-05-13"),
    _m("OpenAI", "GPT-4o", "gpt-4o-2024-08-06", "MULTIMODAL",
       (*_CHAT, "code", "vision", "speech"), GA, "2024-08-06"),
    _m("OpenAI", "GPT-4o mini", "gpt-4o-mini-2024-07-18", "MULTIMODAL", (*_CHAT, "code"), GA, "2024-07-18"),
    _m("OpenAI", "o1", "o1-2024-12-17", "TEXT", (*_CODE, "math"), GA, "2024-12-05"),
    _m("OpenAI", "o3-mini", "o3-mini-2025-01-31", "TEXT", (*_CODE, "math"), GA, "2025-01-31"),
    _m("OpenAI", "GPT-4.5", "gpt-4.5-preview-2025-02-27", "MULTIMODAL", _CHAT, DEPRECATED, "2025-02-27"),
    _m("OpenAI", "GPT-4.1", "gpt-4.1-2025-04-14", "MULTIMODAL", (*_CHAT, "code"), GA, "2025-04-14"),
    _m("OpenAI", "o3", "o3-2025-04-16", "MULTIMODAL", (*_CYBER, "vision"), GA, "2025-04-16"),
    _m("OpenAI", "o4-mini", "o4-mini-2025-04-16", "MULTIMODAL", (*_CODE, "vision"), GA, "2025-04-16"),
    _m("OpenAI", "gpt-oss-120b", "gpt-oss-120b", "TEXT", (*_CODE, "open-weights"), GA, "2025-08-05"),
    _m("OpenAI", "GPT-5", "gpt-5-2025-08-07", "MULTIMODAL", (*_CYBER, "vision", "bio"), GA, "2025-08-07"),
    _m("OpenAI", "GPT-5-Codex", "gpt-5-codex", "CODE", _CYBER, GA, "2025-09-15"),
    _m("OpenAI", "DALL-E 3", "dall-e-3", "IMAGE", ("image-generation",), GA, "2023-09-20"),
    _m("OpenAI", "Sora 2", "sora-2", "VIDEO", ("video-generation", "speech"), GA, "2025-09-30"),
    _m("Anthropic", "Claude 3 Opus", "claude-3-opus-20240229", "MULTIMODAL",
       (*_CHAT, "code", "vision"), DEPRECATED, "2024-03-04"),
    _m("Anthropic", "Claude 3.5 Sonnet", "claude-3-5-sonnet-20240620", "MULTIMODAL",
       (*_CHAT, "code", "vision"), DEPRECATED, "2024-06-20"),
    _m("Anthropic", "Claude 3.5 Sonnet", "claude-3-5-sonnet-20241022", "MULTIMODAL",
       (*_CYBER, "vision"), DEPRECATED, "2024-10-22"),
    _m("Anthropic", "Claude 3.5 Haiku", "claude-3-5-haiku-20241022", "TEXT",
       (*_CHAT, "code"), GA, "2024-10-22"),
    _m("Anthropic", "Claude 3.7 Sonnet", "claude-3-7-sonnet-20250219", "MULTIMODAL",
       (*_CYBER, "vision"), GA, "2025-02-24"),
    _m("Anthropic", "Claude Opus 4", "claude-opus-4-20250514", "MULTIMODAL",
       (*_CYBER, "vision", "bio"), GA, "2025-05-22"),
    _m("Anthropic", "Claude Sonnet 4", "claude-sonnet-4-20250514", "MULTIMODAL",
       (*_CYBER, "vision"), GA, "2025-05-22"),
    _m("Anthropic", "Claude Opus 4.1", "claude-opus-4-1-20250805", "MULTIMODAL",
       (*_CYBER, "vision", "bio"), GA, "2025-08-05"),
    _m("Anthropic", "Claude Sonnet 4.5", "claude-sonnet-4-5-20250929", "MULTIMODAL",
       (*_CYBER, "vision"), GA, "2025-09-29"),
    _m("Anthropic", "Claude Haiku 4.5", "claude-haiku-4-5-20251001", "MULTIMODAL",
       (*_CODE, "vision"), GA, "2025-10-15"),
    _m("Anthropic", "Claude Opus 4.5", "claude-opus-4-5-20251101", "MULTIMODAL",
       (*_CYBER, "vision", "bio"), GA, "2025-11-24"),
    _m("Anthropic", "Claude Mythos Preview", "claude-mythos-preview", "MULTIMODAL",
       (*_CYBER, "vision", "bio", "long-context"), PREVIEW, "2026-04-07"),
    _m("Google", "Gemini 1.0 Ultra", "gemini-1.0-ultra", "MULTIMODAL",
       (*_CHAT, "vision"), DEPRECATED, "2023-12-06"),
    _m("Google", "Gemini 1.5 Pro", "gemini-1.5-pro-002", "MULTIMODAL",
       (*_CHAT, "code", "vision"), DEPRECATED, "2024-02-15"),
    _m("Google", "Gemini 1.5 Flash", "gemini-1.5-flash-002", "MULTIMODAL",
       (*_CHAT, "vision"), DEPRECATED, "2024-05-14"),
    _m("Google", "Gemini 2.0 Flash", "gemini-2.0-flash-001", "MULTIMODAL",
       (*_CHAT, "code", "agentic"), GA, "2024-12-11"),
    _m("Google", "Gemini 2.5 Pro", "gemini-2.5-pro", "MULTIMODAL",
       (*_CYBER, "vision", "long-context"), GA, "2025-03-25"),
    _m("Google", "Gemini 2.5 Flash", "gemini-2.5-flash", "MULTIMODAL",
       (*_CHAT, "code", "vision"), GA, "2025-04-17"),
    _m("Google", "Gemini 3 Pro", "gemini-3-pro-preview", "MULTIMODAL",
       (*_CYBER, "vision", "long-context"), GA, "2025-11-18"),
    _m("Google", "Gemma 3", "gemma-3-27b-it", "MULTIMODAL",
       (*_CHAT, "open-weights"), GA, "2025-03-12"),
    _m("Google", "Veo 3", "veo-3.0", "VIDEO",
       ("video-generation", "audio-generation"), GA, "2025-05-20"),
    _m("Google", "Imagen 4", "imagen-4.0", "IMAGE", ("image-generation",), GA, "2025-05-20"),
    _m("Google", "Big Sleep", "", "CODE",
       ("vulnerability-discovery", "agentic", "code"), PREVIEW, "2024-11-01"),
    _m("Google", "CodeMender", "", "CODE",
       ("vulnerability-discovery", "agentic", "code", "patching"), PREVIEW, "2025-10-06"),
)

NOT_PLANNED_FOR_GENERAL_AVAILABILITY = ("Claude Mythos Preview",)

# The hand-written fictional lines: open-weights families, code, image, video and voice models, a model in
# development and previews, as large labs have. Dates are invented.
FICTIONAL_MODELS = (
    _m("Quillwort Open Models (fictional)", "Quill 2 70B (fictional)", "quill-2-70b-chat", "TEXT",
       (*_CHAT, "open-weights"), DEPRECATED, "2023-08-02"),
    _m("Quillwort Open Models (fictional)", "Quill Code 34B (fictional)", "quill-code-34b-instruct", "CODE",
       (*_CODE, "open-weights"), DEPRECATED, "2024-02-06"),
    _m("Quillwort Open Models (fictional)", "Quill 3 405B (fictional)", "quill-3-405b-instruct", "TEXT",
       (*_CHAT, "code", "open-weights"), GA, "2024-08-13"),
    _m("Quillwort Open Models (fictional)", "Quill 3 Vision 90B (fictional)", "quill-3-vision-90b", "MULTIMODAL",
       (*_CHAT, "vision"), GA, "2024-10-01"),
    _m("Quillwort Open Models (fictional)", "Quill 4 Scout (fictional)", "quill-4-scout-17b", "MULTIMODAL",
       (*_CHAT, "vision", "open-weights"), GA, "2025-04-22"),
    _m("Quillwort Open Models (fictional)", "Quill 4 Harrier (fictional)", "quill-4-harrier-400b", "MULTIMODAL",
       (*_CHAT, "code", "vision", "open-weights"), GA, "2025-04-22"),
    _m("Quillwort Open Models (fictional)", "Quill 4 Colossus (fictional)", "quill-4-colossus", "MULTIMODAL",
       (*_CYBER, "vision"), IN_DEVELOPMENT, None),
    _m("Saltmarsh AI (fictional)", "Marsh-1 (fictional)", "marsh-1", "TEXT",
       (*_CHAT, "open-weights"), DEPRECATED, "2023-11-20"),
    _m("Saltmarsh AI (fictional)", "Marsh-2 (fictional)", "marsh-2-1130", "MULTIMODAL",
       (*_CHAT, "vision"), DEPRECATED, "2024-09-03"),
    _m("Saltmarsh AI (fictional)", "Marsh 3 (fictional)", "marsh-3", "MULTIMODAL",
       (*_CHAT, "code", "vision"), GA, "2025-03-04"),
    _m("Saltmarsh AI (fictional)", "Marsh 4 (fictional)", "marsh-4-0722", "MULTIMODAL",
       (*_CYBER, "vision"), GA, "2025-07-22"),
    _m("Saltmarsh AI (fictional)", "Marsh Code Swift (fictional)", "marsh-code-swift-1", "CODE",
       (*_CODE, "agentic"), GA, "2025-09-09"),
    _m("Vercors Intelligence (fictional)", "Vercors 7B (fictional)", "vercors-7b-v0.1", "TEXT",
       (*_CHAT, "open-weights"), DEPRECATED, "2023-10-10"),
    _m("Vercors Intelligence (fictional)", "Chartreuse Code (fictional)", "chartreuse-code-2406", "CODE",
       _CODE, GA, "2024-06-11"),
    _m("Vercors Intelligence (fictional)", "Vercors Large 2 (fictional)", "vercors-large-2408", "TEXT",
       (*_CHAT, "code"), GA, "2024-08-06"),
    _m("Vercors Intelligence (fictional)", "Vercors Vision Large (fictional)", "vercors-vision-large-2412",
       "MULTIMODAL", (*_CHAT, "vision"), GA, "2024-12-03"),
    _m("Vercors Intelligence (fictional)", "Chartreuse Agent (fictional)", "chartreuse-agent-2506", "CODE",
       (*_CODE, "agentic", "open-weights"), GA, "2025-06-03"),
    _m("Vercors Intelligence (fictional)", "Vercors Reason (fictional)", "vercors-reason-2507", "TEXT",
       (*_CODE, "math"), PREVIEW, "2025-07-15"),
    _m("Keelson Cloud AI (fictional)", "Keelson Text (fictional)", "keelson.text-v1:0", "TEXT",
       _CHAT, DEPRECATED, "2024-05-21"),
    _m("Keelson Cloud AI (fictional)", "Keelson Lite (fictional)", "keelson.lite-v1:0", "MULTIMODAL",
       (*_CHAT, "vision"), GA, "2024-12-10"),
    _m("Keelson Cloud AI (fictional)", "Keelson Pro (fictional)", "keelson.pro-v1:0", "MULTIMODAL",
       (*_CHAT, "code", "vision"), GA, "2024-12-10"),
    _m("Keelson Cloud AI (fictional)", "Keelson Canvas (fictional)", "keelson.canvas-v1:0", "IMAGE",
       ("image-generation",), GA, "2024-12-10"),
    _m("Keelson Cloud AI (fictional)", "Keelson Reel (fictional)", "keelson.reel-v1:0", "VIDEO",
       ("video-generation",), GA, "2025-01-14"),
    _m("Keelson Cloud AI (fictional)", "Keelson Voice (fictional)", "keelson.voice-v1:0", "AUDIO",
       ("speech", "tool-use"), GA, "2025-04-15"),
    _m("Keelson Cloud AI (fictional)", "Keelson Premier (fictional)", "keelson.premier-v1:0", "MULTIMODAL",
       (*_CYBER, "vision"), GA, "2025-05-06"),
    _m("Osprey Point Research (fictional)", "Pebble 3 Mini (fictional)", "pebble-3-mini-4k", "TEXT",
       (*_CHAT, "open-weights"), DEPRECATED, "2024-05-07"),
    _m("Osprey Point Research (fictional)", "Pebble 3.5 MoE (fictional)", "pebble-3.5-moe", "TEXT",
       (*_CHAT, "open-weights"), GA, "2024-09-10"),
    _m("Osprey Point Research (fictional)", "Pebble 4 (fictional)", "pebble-4", "TEXT",
       (*_CODE, "math", "open-weights"), GA, "2025-01-08"),
    _m("Osprey Point Research (fictional)", "Osprey 1 (fictional)", "osprey-1-preview", "TEXT",
       (*_CHAT, "code"), PREVIEW, "2025-09-02"),
    _m("Osprey Point Research (fictional)", "Osprey Voice (fictional)", "osprey-voice-1", "AUDIO",
       ("speech",), GA, "2025-09-02"),
    _m("Osprey Point Research (fictional)", "Osprey Image (fictional)", "osprey-image-1", "IMAGE",
       ("image-generation",), GA, "2025-10-21"),
)
# fmt: on

# Two model families per fictional lab: (family name, modality); the generator makes three generations of
# each, with a full and a small variant.
FICTIONAL_FAMILIES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "Northwind AI (fictional)": (("Gale", "MULTIMODAL"), ("Trade Wind Coder", "CODE")),
    "Blue Heron Labs (fictional)": (("Heron", "TEXT"), ("Wader", "MULTIMODAL")),
    "Cascadia Machine Intelligence (fictional)": (("Rainier", "MULTIMODAL"), ("Cascade Code", "CODE")),
    "Prairie Logic (fictional)": (("Bison", "TEXT"), ("Tallgrass", "MULTIMODAL")),
    "Granite State AI (fictional)": (("Monadnock", "TEXT"), ("Quarry", "CODE")),
    "Lakeshore Reasoning (fictional)": (("Superior", "TEXT"), ("Driftwood", "MULTIMODAL")),
    "Thames Foundation Models (fictional)": (("Estuary", "MULTIMODAL"), ("Lock Keeper", "CODE")),
    "Kestrel Research (fictional)": (("Kestrel", "MULTIMODAL"), ("Hover", "AUDIO")),
    "Lumiere Intelligence (fictional)": (("Aube", "TEXT"), ("Prisme", "IMAGE")),
    "Rheinwerk KI (fictional)": (("Lorelei", "MULTIMODAL"), ("Schmiede", "CODE")),
    "Helvetia Neural (fictional)": (("Matterhorn", "TEXT"), ("Glacier", "MULTIMODAL")),
    "Polder Intelligence (fictional)": (("Dijk", "TEXT"), ("Windmolen", "CODE")),
    "Oresund AI (fictional)": (("Bridge", "MULTIMODAL"), ("Sound", "AUDIO")),
    "Maple Leaf Cognition (fictional)": (("Sugarbush", "MULTIMODAL"), ("Portage", "CODE")),
    "Sakura Compute Labs (fictional)": (("Hanami", "MULTIMODAL"), ("Kaizen Coder", "CODE")),
    "Hangang AI (fictional)": (("Bridge Han", "TEXT"), ("Namsan", "VIDEO")),
    "Carmel Reasoning (fictional)": (("Ridge", "TEXT"), ("Sentinel", "CODE")),
    "Dune Sea AI (fictional)": (("Mirage", "MULTIMODAL"), ("Oasis", "TEXT")),
    "Merlion Models (fictional)": (("Merlion", "MULTIMODAL"), ("Straits", "CODE")),
    "Deccan AI Labs (fictional)": (("Plateau", "TEXT"), ("Monsoon", "MULTIMODAL")),
    "Southern Cross AI (fictional)": (("Crux", "MULTIMODAL"), ("Outback Coder", "CODE")),
    "Tamarack Intelligence (fictional)": (("Larch", "MULTIMODAL"), ("Needle", "CODE")),
}

CAPABILITIES_BY_MODALITY = {
    "TEXT": ("reasoning", "multilingual", "long-context", "tool-use", "code", "bio", "chem", "agentic"),
    "CODE": ("code", "vulnerability-discovery", "agentic", "tool-use", "patching", "reasoning"),
    "MULTIMODAL": (
        "reasoning",
        "vision",
        "code",
        "agentic",
        "vulnerability-discovery",
        "bio",
        "tool-use",
        "speech",
    ),
    "IMAGE": ("image-generation", "image-editing"),
    "AUDIO": ("speech", "voice-cloning", "tool-use"),
    "VIDEO": ("video-generation", "audio-generation"),
}


# --------------------------------------------------------------------------------------------------- findings

# KEV vendors whose products sit mostly in one kind of infrastructure, to give findings plausible sectors.
VENDOR_SECTORS = {
    "Siemens": ("ENERGY", "CRITICAL_MANUFACTURING", "WATER_AND_WASTEWATER_SYSTEMS"),
    "Schneider Electric": ("ENERGY", "CRITICAL_MANUFACTURING", "WATER_AND_WASTEWATER_SYSTEMS"),
    "Rockwell Automation": ("CRITICAL_MANUFACTURING", "CHEMICAL", "FOOD_AND_AGRICULTURE"),
    "Unitronics": ("WATER_AND_WASTEWATER_SYSTEMS", "FOOD_AND_AGRICULTURE"),
    "Mitsubishi Electric": ("CRITICAL_MANUFACTURING", "ENERGY"),
    "Hikvision": ("COMMERCIAL_FACILITIES", "GOVERNMENT_FACILITIES"),
    "D-Link": ("COMMUNICATIONS", "COMMERCIAL_FACILITIES"),
    "Cisco": ("COMMUNICATIONS", "INFORMATION_TECHNOLOGY"),
    "Citrix": ("INFORMATION_TECHNOLOGY", "HEALTHCARE_AND_PUBLIC_HEALTH", "GOVERNMENT_FACILITIES"),
    "Fortinet": ("INFORMATION_TECHNOLOGY", "COMMUNICATIONS", "FINANCIAL_SERVICES"),
    "Ivanti": ("INFORMATION_TECHNOLOGY", "GOVERNMENT_FACILITIES"),
    "Oracle": ("FINANCIAL_SERVICES", "INFORMATION_TECHNOLOGY"),
    "SAP": ("CRITICAL_MANUFACTURING", "FINANCIAL_SERVICES"),
    "Microsoft": ("INFORMATION_TECHNOLOGY", "GOVERNMENT_FACILITIES"),
}

# Common sectors first: most findings concern general information technology.
SECTOR_WEIGHTS = {
    "INFORMATION_TECHNOLOGY": 10,
    "HEALTHCARE_AND_PUBLIC_HEALTH": 5,
    "ENERGY": 5,
    "WATER_AND_WASTEWATER_SYSTEMS": 4,
    "FINANCIAL_SERVICES": 4,
    "GOVERNMENT_FACILITIES": 4,
    "COMMUNICATIONS": 4,
    "CRITICAL_MANUFACTURING": 3,
    "TRANSPORTATION_SYSTEMS": 3,
    "DEFENSE_INDUSTRIAL_BASE": 3,
    "EMERGENCY_SERVICES": 2,
    "COMMERCIAL_FACILITIES": 2,
    "FOOD_AND_AGRICULTURE": 2,
    "CHEMICAL": 1,
    "DAMS": 1,
    "NUCLEAR_REACTORS_MATERIALS_AND_WASTE": 1,
}

# Findings that are not KEV entries: novel issues found in fictional products (no CVE yet), by fictional models or
# by agencies.
NOVEL_WEAKNESSES = (
    ("Heap buffer overflow in firmware update parser", "CWE-122"),
    ("Authentication bypass in maintenance web console", "CWE-288"),
    ("OS command injection in diagnostics endpoint", "CWE-78"),
    ("Path traversal in log export feature", "CWE-22"),
    ("Hard-coded credentials in remote support service", "CWE-798"),
    ("Deserialization of untrusted data in telemetry agent", "CWE-502"),
    ("Use after free in protocol gateway", "CWE-416"),
    ("Server-side request forgery in integration connector", "CWE-918"),
    ("Missing authorization on configuration API", "CWE-862"),
    ("Integer overflow in image decoder", "CWE-190"),
    ("SQL injection in reporting module", "CWE-89"),
    ("Improper certificate validation in update client", "CWE-295"),
)
NOVEL_PRODUCTS = (
    ("Acme Controls (fictional)", "FlowMaster PLC gateway"),
    ("Bellweather Medical Systems (fictional)", "InfuseNet pump manager"),
    ("Copperline Networks (fictional)", "CL-4000 edge router"),
    ("Delta Grid Software (fictional)", "GridView SCADA HMI"),
    ("Evergreen Water Tech (fictional)", "AquaTrend telemetry server"),
    ("Fulcrum Banking Software (fictional)", "CoreLedger teller suite"),
    ("Gantry Logistics (fictional)", "YardTrack terminal OS"),
    ("Harbor Health IT (fictional)", "PatientBridge HL7 interface engine"),
    ("Ironbridge Security (fictional)", "SecureAccess VPN appliance"),
    ("Juniper Hollow Software (fictional)", "CountyClerk records portal"),
)

# Flaws in a fictional model itself, found by an agency's testers while evaluating it.
MODEL_FLAWS = (
    ("Prompt injection through retrieved web content triggers tool calls", "CWE-1427"),
    ("Generated code run by the agent harness without validation", "CWE-1426"),
    ("Sandbox escape through the code-execution tool", "CWE-693"),
    ("Safety filter bypass yields working exploit chains", "CWE-693"),
    ("Credentials from the evaluation environment repeated in outputs", "CWE-200"),
    ("Tool-use agent gains administrator rights in its test network", "CWE-269"),
)

ATTACK_IDS = (
    "T1190", "T1059", "T1133", "T1078", "T1068", "T1203", "T1210", "T1505.003", "T1486", "T1566",
    "T1021", "T1046", "T1071", "T1105", "T1212", "T1211", "T1195.002", "T1499",
)  # fmt: skip


# --------------------------------------------------------------------------------------------------- measures

# D3FEND defensive techniques by tactic (the measure's kind).
D3FEND_BY_KIND = {
    "MODEL": ("D3-AI", "D3-SWI", "D3-NM", "D3-DI"),
    "HARDEN": ("D3-PH", "D3-SU", "D3-MFA", "D3-ACH", "D3-CH"),
    "DETECT": ("D3-NTA", "D3-FA", "D3-PSA", "D3-UBA", "D3-FIM", "D3-RTSD"),
    "ISOLATE": ("D3-NI", "D3-ITF", "D3-OTF", "D3-EAL", "D3-DNSDL"),
    "DECEIVE": ("D3-DF", "D3-CHN", "D3-IHN", "D3-SHN"),
    "EVICT": ("D3-PT", "D3-AL", "D3-CR", "D3-FEV"),
    "RESTORE": ("D3-RF", "D3-RD"),
}
NIST_CONTROLS_BY_KIND = {
    "MODEL": ("CM-8", "RA-3", "RA-5", "PM-5"),
    "HARDEN": ("SI-2", "CM-6", "CM-7", "IA-2", "AC-6", "RA-5"),
    "DETECT": ("SI-4", "AU-6", "IR-4", "RA-5"),
    "ISOLATE": ("SC-7", "AC-4", "SC-39", "CM-7"),
    "DECEIVE": ("SC-26", "SC-30", "SI-4"),
    "EVICT": ("IR-4", "AC-2", "SI-3"),
    "RESTORE": ("CP-9", "CP-10", "IR-4"),
}
MEASURE_KIND_WEIGHTS = {
    "MODEL": 2,
    "HARDEN": 6,
    "DETECT": 5,
    "ISOLATE": 3,
    "DECEIVE": 1,
    "EVICT": 2,
    "RESTORE": 1,
}
MEASURE_TITLES = {
    "MODEL": "Inventory exposure to {product} across {scope}",
    "HARDEN": "Patch and harden {product} on {scope}",
    "DETECT": "Detect exploitation of {what} on {scope}",
    "ISOLATE": "Segment {product} management interfaces on {scope}",
    "DECEIVE": "Decoy {product} instances in {scope}",
    "EVICT": "Hunt and evict footholds gained through {what} on {scope}",
    "RESTORE": "Restore known-good baselines of {product} hosts on {scope}",
}
DOD_COMPONENTS = (
    "CYBERCOM",
    "DISA",
    "NSA/CSS",
    "JFHQ-DODIN",
    "Army Cyber Command",
    "Fleet Cyber Command",
    "Air Forces Cyber",
    "Marine Corps Forces Cyberspace Command",
    "DC3",
)
DOD_SCOPES = (
    "NIPRNet internet-facing web servers",
    "enterprise identity and access services",
    "installation network enclaves",
    "shore-based operational technology networks",
    "base area networks",
    "joint regional security stacks",
    "DoD cloud tenant workloads (IL5)",
    "defense industrial base partner gateways (pilot)",
    "tactical edge networks (exercise enclave)",
    "software factory build pipelines",
)


# ------------------------------------------------------------------------------------------------ engagements

ENGAGEMENT_KIND_LABELS = {
    "TOOL_ACCESS": "Model-assisted scanning access",
    "CVD_COORDINATION": "Coordinated disclosure",
    "CLEARINGHOUSE_SCAN": "Clearinghouse scan",
    "SECURE_BY_DESIGN": "Secure-by-design review",
    "ADVISORY": "Advisory support",
}
COUNTERPARTIES = {
    "CHEMICAL": (
        "Specialty chemical plant in Louisiana (fictional)",
        "Fertilizer distributor in Iowa (fictional)",
    ),
    "COMMERCIAL_FACILITIES": (
        "Regional stadium operator in Ohio (fictional)",
        "Shopping mall group in Arizona (fictional)",
    ),
    "COMMUNICATIONS": (
        "Rural broadband cooperative in Nebraska (fictional)",
        "Small wireless carrier in Alaska (fictional)",
    ),
    "CRITICAL_MANUFACTURING": (
        "Transformer manufacturer in Pennsylvania (fictional)",
        "Auto parts supplier in Michigan (fictional)",
    ),
    "DAMS": ("Hydroelectric dam operator in Oregon (fictional)", "Levee district in Mississippi (fictional)"),
    "DEFENSE_INDUSTRIAL_BASE": (
        "Machine shop supplying aircraft parts in Kansas (fictional)",
        "Small defense electronics firm in Alabama (fictional)",
    ),
    "EMERGENCY_SERVICES": (
        "County 911 dispatch center in Montana (fictional)",
        "Volunteer fire district in Vermont (fictional)",
    ),
    "ENERGY": (
        "Electric cooperative in Georgia (fictional)",
        "Natural gas distributor in Oklahoma (fictional)",
        "Municipal power utility in Minnesota (fictional)",
    ),
    "FINANCIAL_SERVICES": (
        "Community bank in West Virginia (fictional)",
        "Credit union in New Mexico (fictional)",
    ),
    "FOOD_AND_AGRICULTURE": (
        "Grain elevator cooperative in North Dakota (fictional)",
        "Dairy processor in Wisconsin (fictional)",
    ),
    "GOVERNMENT_FACILITIES": (
        "County election office in Nevada (fictional)",
        "City hall IT department in Maine (fictional)",
    ),
    "HEALTHCARE_AND_PUBLIC_HEALTH": (
        "Rural hospital, county in Kansas (fictional)",
        "Critical access hospital in Wyoming (fictional)",
        "Community health center in Kentucky (fictional)",
    ),
    "INFORMATION_TECHNOLOGY": (
        "Managed service provider for small towns in Idaho (fictional)",
        "Open-source maintainers of a widely used parser library (fictional)",
    ),
    "NUCLEAR_REACTORS_MATERIALS_AND_WASTE": (
        "Research reactor at a state university (fictional)",
        "Radioactive materials licensee in Texas (fictional)",
    ),
    "TRANSPORTATION_SYSTEMS": (
        "Regional airport authority in South Dakota (fictional)",
        "Short-line railroad in Tennessee (fictional)",
        "Port authority in Washington (fictional)",
    ),
    "WATER_AND_WASTEWATER_SYSTEMS": (
        "Water utility serving 8,000 people in Ohio (fictional)",
        "Wastewater district in Colorado (fictional)",
        "Rural water association in Arkansas (fictional)",
    ),
}
MILESTONE_TITLES = (
    "Kickoff and scoping call",
    "Rules of engagement signed",
    "Model-assisted scan of exposed systems",
    "Findings shared with the counterparty",
    "Patches or mitigations deployed",
    "Close-out report",
)


# --------------------------------------------------------------------------------------------------- coverage


@dataclass(frozen=True)
class SuiteSpec:
    """A fictional evaluation suite of the demo's register."""

    key: str
    name: str
    suite_version: str
    capability_area: str
    score_unit: str
    owner: str
    description: str


EVAL_SUITES = (
    SuiteSpec(
        "cyber",
        "Fictional Range Cyber Offence Battery",
        "2.1",
        "CYBER_OFFENSE",
        "FRACTION",
        "NIST",
        "Fictional demo record. Sixty capture-the-flag tasks in a simulated enterprise range, from reconnaissance to "
        "exploitation of planted, previously unpublished flaws; the score is the fraction solved end to end.",
    ),
    SuiteSpec(
        "autonomy",
        "Fictional Long-Horizon Autonomy Tasks",
        "1.3",
        "AUTONOMY",
        "PERCENT",
        "CISA",
        "Fictional demo record. Multi-step intrusion and administration tasks in a sandboxed network, run without "
        "human help; the score is the percentage completed.",
    ),
    SuiteSpec(
        "bio",
        "Fictional Wet-Lab Protocol Uplift Panel",
        "0.8",
        "CBRN",
        "POINTS",
        "HHS",
        "Fictional demo record. Expert-graded troubleshooting of benign laboratory protocols, scored in points "
        "out of 100 against a panel of expert baselines.",
    ),
)
