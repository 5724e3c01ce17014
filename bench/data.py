"""The benchmark's data set: a deterministic program of a stated size, in the hub's own schema.

    .venv/bin/python -m bench.data --data-dir DIR [--labs 50 --models 5000 --findings 50000 ...]
    .venv/bin/python -m bench.data --database-url URL [...]

Runs the hub's migrations, then fills every table with set-based SQL (`INSERT ... SELECT` over `generate_series`,
as the tables' owner: the tables have FORCE ROW LEVEL SECURITY, which refuses COPY, and the owner's policy lets it
write everything). Every CHECK and trigger of the migrations applies: the agreements' asked-for lead time and policy
version are filled by their triggers, and the events are appended through the hash chain's trigger, one per record.
Values come from arithmetic on the row number (and, to spread findings over models unevenly, PostgreSQL's portable
hashint4 of it), never from random(), so that two runs of one size give the same rows (and the same hashes).

Sizes: labs, models and findings are given; the rest follow in proportion unless given too (per model: 0.5
agreements and 2 coverage decisions; per finding: 0.1 measures and 0.05 engagements; one coverage standard per
1,000 models, at least 3; one event per record). The coverage inputs follow the models: a lab-reported compute
estimate for 9 models in 10 and an agency range for 1 in 4, results on a fictional cyber battery for 4 in 5 (by
an agency for 1 in 6) and on an autonomy suite for 1 in 3 (no designations: the dashboard would count them, and
the peer's dashboard has no such kind); every standard has typed
criteria (any of: total compute at or above 10^26 FLOP, a cyber score of at least 0.5), the draft (the last one)
with the compute threshold lowered to 10^25 FLOP, so that its dry run against the adopted one has changes (the
decisions' outcomes stay arithmetic on the row number: the benchmark times reads, it decides nothing). Dates are
placed around AS_OF, which the operations pass to the dashboard, so that deadlines are due soon and overdue
whatever the day the benchmark runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from string import Template
from typing import Any

import asyncpg

from hub.db import connect, ensure_database, migrate, start_embedded

AS_OF = date(2026, 7, 1)
ANCHOR = datetime(2026, 7, 1, tzinfo=UTC)
# the agencies of sql/001_init.sql, by id
CISA, NIST, DOD, NSA = 1, 2, 3, 4
AGENCY_COUNT = 9
# one principal per (agency, role) with id (agency - 1) * 4 + role index + 1, then one liaison per lab
AGENCY_ROLES = ("VIEWER", "ANALYST", "OFFICER", "ADMIN")
# the lab whose liaison gets a token (any lab would do: they all look alike)
LIAISON_LAB = 1


@dataclass(frozen=True)
class Sizes:
    """How many rows of each kind; the derived ones default to the issue's proportions."""

    labs: int = 50
    models: int = 5_000
    findings: int = 50_000
    agreements: int | None = None
    standards: int | None = None
    decisions_per_model: int = 2
    measures: int | None = None
    engagements: int | None = None
    events_per_record: int = 1

    def resolved(self) -> Sizes:
        """The sizes with every proportional one filled in; bad sizes fail naming the flag."""
        for name in ("labs", "models", "findings"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be 1 or more, not {getattr(self, name)}")
        if self.decisions_per_model < 0 or self.events_per_record < 0:
            raise ValueError("--decisions-per-model and --events-per-record must be 0 or more")
        resolved = Sizes(
            labs=self.labs,
            models=self.models,
            findings=self.findings,
            agreements=self.models // 2 if self.agreements is None else self.agreements,
            standards=max(3, self.models // 1000) if self.standards is None else self.standards,
            decisions_per_model=self.decisions_per_model,
            measures=self.findings // 10 if self.measures is None else self.measures,
            engagements=self.findings // 20 if self.engagements is None else self.engagements,
            events_per_record=self.events_per_record,
        )
        for name in ("agreements", "measures", "engagements"):
            if getattr(resolved, name) < 0:
                raise ValueError(f"--{name} must be 0 or more")
        if resolved.standards is None or resolved.standards < 3:
            raise ValueError("--standards must be 3 or more (a superseded or adopted one, one in review, a draft)")
        return resolved

    @classmethod
    def tiny(cls) -> Sizes:
        return cls(labs=3, models=30, findings=200).resolved()


# Each statement fills one table. $labs, $models ... are whole numbers (the sizes) and $anchor/$as_of the anchor,
# put in with string.Template: nothing here comes from a user but numbers that Sizes checked.

STATEMENTS: list[tuple[str, str]] = [
    (
        "labs",
        """insert into labs (id, name, legal_name, country, website, participation, created_at, updated_at)
           overriding system value
           select i, format('Bench Lab %s', lpad(i::text, 3, '0')), format('Bench Lab %s, Inc.', lpad(i::text, 3, '0')),
                  (array['US', 'GB', 'FR', 'CA', 'JP', 'DE'])[1 + i % 6], format('https://lab%s.example', i),
                  (array['PARTICIPATING', 'PARTICIPATING', 'ENGAGED', 'INVITED', 'DECLINED', 'WITHDRAWN'])[1 + i % 6],
                  '$anchor'::timestamptz - interval '400 days' + i * interval '1 hour',
                  '$anchor'::timestamptz - interval '400 days' + i * interval '1 hour'
             from generate_series(1, $labs) i""",
    ),
    (
        "principals",
        """insert into principals (id, agency_id, lab_id, role, name, created_at, updated_at)
           overriding system value
           select (a - 1) * 4 + r, a, null, (array['VIEWER', 'ANALYST', 'OFFICER', 'ADMIN'])[r],
                  format('bench %s %s', (select code from agencies where id = a),
                         lower((array['VIEWER', 'ANALYST', 'OFFICER', 'ADMIN'])[r])),
                  '$anchor'::timestamptz - interval '500 days', '$anchor'::timestamptz - interval '500 days'
             from generate_series(1, 9) a, generate_series(1, 4) r
           union all
           select 36 + l, null, l, 'LAB_LIAISON', format('bench liaison of lab %s', l),
                  '$anchor'::timestamptz - interval '500 days', '$anchor'::timestamptz - interval '500 days'
             from generate_series(1, $labs) l""",
    ),
    (
        "frontier_models",
        """insert into frontier_models (id, lab_id, name, model_version, modality, description, capabilities,
                                        training_compute_flop, capability_details, planned_release_on,
                                        release_status, announced_on, created_at, updated_at)
           overriding system value
           select i, 1 + (i - 1) % $labs,
                  (array['atlas', 'borealis', 'cirrus', 'delta', 'ember', 'fjord', 'gale', 'harbor', 'iris',
                         'juniper', 'kestrel', 'lumen'])[1 + (i * 7) % 12] || '-' || i,
                  '2026.' || (1 + i % 12),
                  (array['TEXT', 'CODE', 'IMAGE', 'AUDIO', 'VIDEO', 'MULTIMODAL'])[1 + i % 6],
                  format('Generated model %s of the benchmark program.', i),
                  case i % 4 when 0 then array['reasoning', 'coding'] when 1 then array['vision', 'reasoning']
                       when 2 then array['agents', 'coding'] else array['speech', 'translation'] end,
                  1e24 * (1 + i % 50), format('Confidential capability notes of model %s.', i),
                  '$as_of'::date + (i % 180),
                  (array['IN_DEVELOPMENT', 'RESTRICTED_PREVIEW', 'GENERALLY_AVAILABLE', 'GENERALLY_AVAILABLE',
                         'DEPRECATED'])[1 + i % 5],
                  case when i % 5 >= 2 then '$as_of'::date - (i % 300) end,
                  '$anchor'::timestamptz - interval '300 days' + i * interval '1 minute',
                  '$anchor'::timestamptz - interval '300 days' + i * interval '1 minute'
             from generate_series(1, $models) i""",
    ),
    (
        "early_access_agreements",
        """insert into early_access_agreements (id, model_id, lab_id, state, access_kinds, access_start, access_end,
                                                protections, lab_consent_ref, notes, created_by, created_at,
                                                updated_at)
           overriding system value
           select a, m, 1 + (m - 1) % $labs,
                  (array['ACTIVE', 'ACTIVE', 'COMPLETED', 'PROPOSED', 'WITHDRAWN_BY_LAB', 'TERMINATED'])[1 + a % 6],
                  case a % 4 when 0 then array['API'] when 1 then array['API', 'SANDBOX'] when 2 then array['WEIGHTS']
                       else array['SANDBOX'] end,
                  '$anchor'::timestamptz - (a % 40) * interval '1 day',
                  '$anchor'::timestamptz - (a % 40) * interval '1 day' + (10 + a % 20) * interval '1 day',
                  array['CONFIDENTIALITY', 'CYBERSECURITY', 'NONDISCLOSURE'],
                  format('LAB-CONSENT-%s', a), format('Preview of model %s.', m),
                  36 + 1 + (m - 1) % $labs,
                  '$anchor'::timestamptz - interval '200 days' + a * interval '1 minute',
                  '$anchor'::timestamptz - interval '200 days' + a * interval '1 minute'
             from generate_series(1, $agreements) a, lateral (select 1 + ((a - 1) * 2) % $models as m) mm""",
    ),
    (
        "agreement_agencies",
        """insert into agreement_agencies (agreement_id, agency_id, accepted_at, accepted_by)
           select e.id, p.agency,
                  case when e.state in ('ACTIVE', 'COMPLETED') then e.access_start end,
                  case when e.state in ('ACTIVE', 'COMPLETED') then (p.agency - 1) * 4 + 3 end
             from early_access_agreements e
             cross join lateral (
                 select distinct agency from (values (1 + (e.id * 5) % 9),
                                                     (case when e.id % 2 = 0 then 1 + (e.id * 5 + 4) % 9 end),
                                                     (case when e.id % 3 = 0 then 1 end)) v (agency)
                  where agency is not null) p""",
    ),
    (
        "coverage_standards",
        # ids 1 .. n-3 superseded (each by the next), n-2 adopted, n-1 in review (overdue), n a draft (due soon)
        """insert into coverage_standards (id, standard_version, title, summary, state, criteria, required_signoffs,
                                           due_on, owner_agency_id, created_by, adopted_at, superseded_by_id,
                                           created_at, updated_at)
           overriding system value
           select s, format('CS-%s', s), format('Coverage standard %s', s), 'Which frontier models the program covers.',
                  case when s <= $standards - 3 then 'SUPERSEDED' when s = $standards - 2 then 'ADOPTED'
                       when s = $standards - 1 then 'IN_REVIEW' else 'DRAFT' end,
                  '[]'::jsonb,
                  array['CISA', 'NIST'],
                  case when s = $standards then '$as_of'::date + 5 when s = $standards - 1 then '$as_of'::date - 3
                       else '$as_of'::date - 30 * ($standards - s) end,
                  1 + s % 2, 3,
                  case when s <= $standards - 2
                       then '$anchor'::timestamptz - (($standards - s) * 30) * interval '1 day' end,
                  case when s <= $standards - 3 then s + 1 end,
                  '$anchor'::timestamptz - interval '365 days' + s * interval '1 day',
                  '$anchor'::timestamptz - interval '365 days' + s * interval '1 day'
             from generate_series(1, $standards) s""",
    ),
    (
        "coverage_signoffs",
        """insert into coverage_signoffs (standard_id, agency_id, principal_id, signed_at)
           select s.id, a.agency, (a.agency - 1) * 4 + 3, s.created_at + interval '1 day'
             from coverage_standards s, (values (1), (2)) a (agency)
            where s.state in ('ADOPTED', 'SUPERSEDED') or (s.state = 'IN_REVIEW' and a.agency = 1)""",
    ),
    (
        "evaluation_suites",
        """insert into evaluation_suites (id, name, suite_version, capability_area, score_unit, description,
                                          owner_agency_id, created_by, created_at, updated_at)
           overriding system value
           values (1, 'Bench Cyber Offence Battery (fictional)', '2.1', 'CYBER_OFFENSE', 'FRACTION',
                   'Fictional suite of the benchmark: the fraction of range tasks solved.', 2, 7,
                   '$anchor'::timestamptz - interval '400 days', '$anchor'::timestamptz - interval '400 days'),
                  (2, 'Bench Autonomy Tasks (fictional)', '1.0', 'AUTONOMY', 'PERCENT',
                   'Fictional suite of the benchmark: the percentage of long tasks completed.', 1, 3,
                   '$anchor'::timestamptz - interval '400 days', '$anchor'::timestamptz - interval '400 days'),
                  (3, 'Bench Biology Panel (fictional)', '0.8', 'CBRN', 'POINTS',
                   'Fictional suite of the benchmark: points out of 100.', 2, 7,
                   '$anchor'::timestamptz - interval '400 days', '$anchor'::timestamptz - interval '400 days')""",
    ),
    (
        "coverage_criteria",
        # any of: total training compute at or above 10^26 FLOP (10^25 in the draft, the last standard), or a
        # score of at least 0.5 on the cyber battery
        """insert into coverage_criteria (standard_id, position, metric, compute_scope, suite_id, unit, operator,
                                          threshold, written_as, source, description)
           select s, 0, 'TRAINING_COMPUTE', 'TOTAL', null, 'FLOP', 'GTE',
                  case when s = $standards then 1e25 else 1e26 end,
                  case when s = $standards then '>= 10^25 FLOP' else '>= 10^26 FLOP' end, 'HIGHER_OF_TWO',
                  'Total training compute'
             from generate_series(1, $standards) s
           union all
           select s, 1, 'EVALUATION_SCORE', null, 1, 'FRACTION', 'GTE', 0.5, '>= 50 PERCENT', 'HIGHER_OF_TWO',
                  'Cyber offence battery'
             from generate_series(1, $standards) s""",
    ),
    (
        "compute_estimates",
        # pre-training 10^23 .. 3.2 x 10^26 FLOP (log-spread over the models, 3 significant digits); lab-reported
        # for 9 models in 10, post-training left out by 1 in 7 of them; an agency range (0.6 .. 1.5 times) for 1 in
        # 4, by CISA or NIST
        """insert into compute_estimates (model_id, lab_id, method, author_agency_id, pre_training_low,
                                          pre_training_high, post_training_low, post_training_high, method_note,
                                          as_of, created_by, created_at, updated_at)
           select m, 1 + (m - 1) % $labs, e.method, e.agency,
                  case e.method when 'LAB_REPORTED' then c.pre else round(c.pre * 0.6, -20) end,
                  case e.method when 'LAB_REPORTED' then c.pre else round(c.pre * 1.5, -20) end,
                  case when e.method = 'AGENCY_ESTIMATED' then round(c.pre * 0.01, -20)
                       when m % 7 <> 0 then round(c.pre * (1 + m % 9) / 100, -20) end,
                  case when e.method = 'AGENCY_ESTIMATED' then round(c.pre * 0.1, -20)
                       when m % 7 <> 0 then round(c.pre * (1 + m % 9) / 100, -20) end,
                  case e.method when 'LAB_REPORTED' then 'Reported by the lab.'
                       else 'Estimated from disclosed GPU-hours.' end,
                  '$as_of'::date - (m % 60), case e.method when 'LAB_REPORTED' then 36 + 1 + (m - 1) % $labs
                                                        else (e.agency - 1) * 4 + 3 end,
                  '$anchor'::timestamptz - interval '150 days' + m * interval '1 minute',
                  '$anchor'::timestamptz - interval '150 days' + m * interval '1 minute'
             from generate_series(1, $models) m,
                  lateral (select round(power(10::numeric, 23 + ((m * 7919) % 3500) / 1000.0), -20) as pre) c,
                  lateral (select 'LAB_REPORTED' as method, null::bigint as agency where m % 10 <> 0
                           union all
                           select 'AGENCY_ESTIMATED', case when m % 8 = 0 then 2 else 1 end where m % 4 = 0) e
            order by m, e.method desc""",
    ),
    (
        "evaluation_results",
        # the cyber battery: lab-reported for 4 models in 5 (0 .. 0.62, one in 5 at 0.5 or more), agency-run for 1
        # in 6; the autonomy tasks for 1 in 3
        """insert into evaluation_results (model_id, lab_id, suite_id, method, run_by_agency_id, score, ran_on,
                                           model_version, evidence_ref, evidence_sha256, created_by, created_at,
                                           updated_at)
           select m, 1 + (m - 1) % $labs, r.suite, r.method, r.agency, r.score, '$as_of'::date - (m % 50),
                  '2026.' || (1 + m % 12), format('BENCH-EVAL-%s-%s', m, r.k),
                  encode(sha256(convert_to(format('bench evaluation %s of model %s', r.k, m), 'UTF8')), 'hex'),
                  case when r.agency is null then 36 + 1 + (m - 1) % $labs else (r.agency - 1) * 4 + 3 end,
                  '$anchor'::timestamptz - interval '140 days' + m * interval '1 minute',
                  '$anchor'::timestamptz - interval '140 days' + m * interval '1 minute'
             from generate_series(1, $models) m,
                  lateral (select 1 as k, 1 as suite, 'LAB_REPORTED' as method, null::bigint as agency,
                                  round(((m * 31) % 100) / 160.0, 3) as score
                            where m % 5 <> 4
                           union all
                           select 2, 1, 'AGENCY_ESTIMATED', 1, round(((m * 31) % 100) / 160.0 + 0.05, 3)
                            where m % 6 = 0
                           union all
                           select 3, 2, 'LAB_REPORTED', null, (m * 17) % 80 where m % 3 = 0) r
            order by m, r.k""",
    ),
    (
        "coverage_decisions",
        # per model: the first under the adopted standard (in one of its states), the others superseded
        """insert into coverage_decisions (id, model_id, standard_id, state, outcome, rationale, request_note,
                                           requested_by, decided_by, decided_by_agency_id, decided_at, created_at,
                                           updated_at)
           overriding system value
           select d.id, m, greatest(1, $standards - 2 - k), d.state,
                  case when d.state in ('DECIDED', 'SUPERSEDED', 'RECONSIDERATION_REQUESTED')
                       then (array['COVERED', 'NOT_COVERED', 'INSUFFICIENT_INFORMATION'])[1 + (m + k) % 3] end,
                  format('Assessment %s of model %s.', k + 1, m), 'Requested by the lab.',
                  36 + 1 + (m - 1) % $labs,
                  case when d.state in ('DECIDED', 'SUPERSEDED', 'RECONSIDERATION_REQUESTED')
                       then 3 + 4 * (m % 2) end,
                  case when d.state in ('DECIDED', 'SUPERSEDED', 'RECONSIDERATION_REQUESTED') then 1 + m % 2 end,
                  case when d.state in ('DECIDED', 'SUPERSEDED', 'RECONSIDERATION_REQUESTED')
                       then '$anchor'::timestamptz - interval '100 days' + d.id * interval '1 minute' end,
                  '$anchor'::timestamptz - interval '120 days' + d.id * interval '1 minute',
                  '$anchor'::timestamptz - interval '120 days' + d.id * interval '1 minute'
             from generate_series(1, $models) m, generate_series(0, $decisions - 1) k,
                  lateral (select (m - 1) * $decisions + k + 1 as id,
                                  case when k > 0 then 'SUPERSEDED'
                                       else (array['DECIDED', 'DECIDED', 'DECIDED', 'UNDER_ASSESSMENT', 'REQUESTED',
                                                   'RECONSIDERATION_REQUESTED', 'WITHDRAWN'])[1 + m % 7] end
                                  as state) d""",
    ),
    (
        "findings",
        # TLP: 20% CLEAR, 30% GREEN, 30% AMBER, 10% AMBER_STRICT, 10% RED; scores over 0.0 .. 10.0 with their band
        """insert into findings (id, title, description, state, model_id, lab_id, discovered_by_kind,
                                 discovered_by_agency_id, discovered_by_lab_id, cve_id, cvss_version, cvss_vector,
                                 cvss_base_score, cvss_severity, kev_date_added, kev_due_date,
                                 kev_known_ransomware_campaign_use, kev_required_action, cwes, affected_vendor,
                                 affected_product, affected_versions, sectors, tlp, owner_agency_id,
                                 share_agency_ids, share_lab_ids, recipient_principal_ids, created_by, created_at,
                                 updated_at)
           overriding system value
           select i, format('%s in %s %s', (array['Remote code execution', 'Privilege escalation',
                                                  'Authentication bypass', 'SQL injection', 'Path traversal',
                                                  'Memory corruption'])[1 + i % 6],
                            (array['SCADA gateway', 'patient portal', 'VPN appliance', 'billing system',
                                   'water controller', 'mail server', 'file transfer service'])[1 + i % 7], i),
                  format('Found while testing model %s.', m),
                  (array['REPORTED', 'REPORTED', 'TRIAGED', 'VALIDATED', 'COORDINATING', 'MITIGATION_AVAILABLE',
                         'DISCLOSED', 'REMEDIATED', 'REMEDIATED', 'REJECTED'])[1 + (i * 3) % 10],
                  m, 1 + (m - 1) % $labs,
                  case when i % 10 < 6 then 'MODEL' when i % 10 < 9 then 'AGENCY' else 'LAB' end,
                  case when i % 10 between 6 and 8 then o end,
                  case when i % 10 = 9 then 1 + (m - 1) % $labs end,
                  format('CVE-%s-%s', 2020 + i % 6, 10000 + i),
                  case when s is not null then '3.1' end,
                  case when s is not null then 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' end,
                  s,
                  case when s is null then null when s = 0 then 'NONE' when s < 4 then 'LOW'
                       when s < 7 then 'MEDIUM' when s < 9 then 'HIGH' else 'CRITICAL' end,
                  case when i % 10 = 0 then '$as_of'::date - (i % 90) end,
                  case when i % 10 = 0 then '$as_of'::date + (i % 61) - 30 end,
                  case when i % 10 = 0 then (array['KNOWN', 'UNKNOWN'])[1 + i % 2] end,
                  case when i % 10 = 0 then 'Apply mitigations per vendor instructions.' end,
                  array[format('CWE-%s', 20 + i % 80)],
                  (array['Acme Industrial', 'MedSoft', 'NetCorp', 'AquaControls'])[1 + i % 4],
                  (array['Gateway', 'Portal', 'Edge', 'Controller'])[1 + i % 4], format('< %s.0', 1 + i % 9),
                  case when i % 3 = 0 then array[(all_sectors())[1 + i % 16], (all_sectors())[1 + (i + 5) % 16]]
                       else array[(all_sectors())[1 + i % 16]] end,
                  t.tlp, o,
                  case when t.tlp = 'AMBER' then array[1 + (i * 13) % 9, 1 + (i * 13 + 2) % 9]::bigint[]
                       else '{}' end,
                  case when t.tlp = 'AMBER' and i % 2 = 0 then array[1 + (m - 1) % $labs]::bigint[] else '{}' end,
                  case when t.tlp = 'RED' then array[((i * 7) % 9) * 4 + 2]::bigint[] else '{}' end,
                  (o - 1) * 4 + 2,
                  '$anchor'::timestamptz - interval '90 days' + i * interval '100 milliseconds',
                  '$anchor'::timestamptz - interval '90 days' + i * interval '100 milliseconds'
             from generate_series(1, $findings) i,
                  lateral (select 1 + mod(hashint4(i)::bigint + 2147483648, $models) as m, 1 + (i * 31) % 9 as o,
                                  case when i % 7 = 3 then null else ((i * 37) % 101 / 10.0)::numeric(3, 1) end as s,
                                  (array['CLEAR', 'CLEAR', 'GREEN', 'GREEN', 'GREEN', 'AMBER', 'AMBER', 'AMBER',
                                         'AMBER_STRICT', 'RED'])[1 + i % 10] as tlp) t""",
    ),
    (
        "cyber_measures",
        """insert into cyber_measures (id, title, description, kind, state, system_scope, owner_component,
                                       d3fend_ids, attack_ids, nist80053_controls, evidence, tlp, owner_agency_id,
                                       share_agency_ids, recipient_principal_ids, created_by, created_at, updated_at)
           overriding system value
           select j, format('%s measure %s', (array['Network segmentation', 'Patch rollout', 'Detection rule',
                                                    'Deception grid', 'Credential reset'])[1 + j % 5], j),
                  'Deployed against model-found vulnerabilities.',
                  (array['MODEL', 'HARDEN', 'DETECT', 'ISOLATE', 'DECEIVE', 'EVICT', 'RESTORE'])[1 + j % 7],
                  (array['PLANNED', 'DEPLOYING', 'DEPLOYED', 'VERIFIED', 'RETIRED', 'SUSPENDED'])[1 + j % 6],
                  format('DoD network enclave %s', 1 + j % 40),
                  (array['CYBERCOM', 'DISA', 'ARCYBER', 'FLTCYBER'])[1 + j % 4],
                  array['D3-NI'], array[format('T%s', 1000 + j % 500)], array['SI-2', 'SC-7'],
                  format('Verified by red team exercise %s.', j),
                  (array['CLEAR', 'GREEN', 'AMBER', 'AMBER', 'AMBER_STRICT', 'RED'])[1 + j % 6],
                  case when j % 5 = 0 then 4 else 3 end,
                  case when j % 6 in (2, 3) and j % 2 = 0 then array[1]::bigint[] else '{}' end,
                  case when j % 6 = 5 then array[2]::bigint[] else '{}' end,
                  case when j % 5 = 0 then 15 else 11 end,
                  '$anchor'::timestamptz - interval '60 days' + j * interval '1 second',
                  '$anchor'::timestamptz - interval '60 days' + j * interval '1 second'
             from generate_series(1, $measures) j""",
    ),
    (
        "measure_findings",
        """insert into measure_findings (measure_id, finding_id)
           select j, 1 + ((j * 17 + x) % $findings) from generate_series(1, $measures) j, generate_series(0, 1) x
           on conflict do nothing""",
    ),
    (
        "measure_models",
        """insert into measure_models (measure_id, model_id)
           select j, 1 + (j * 13) % $models from generate_series(1, $measures) j""",
    ),
    (
        "infrastructure_counterparts",
        """insert into infrastructure_counterparts (id, name, kind, sector, owner_agency_id, created_by, created_at,
                                                    updated_at)
           overriding system value
           select e, format('%s %s', (array['Rural hospital', 'Municipal water utility', 'County electric cooperative',
                                            'Regional bank', 'School district'])[1 + e % 5], e),
                  (array['RURAL_HOSPITAL', 'WATER_UTILITY', 'ELECTRIC_UTILITY', 'FINANCIAL_INSTITUTION',
                         'SCHOOL_DISTRICT'])[1 + e % 5],
                  (all_sectors())[1 + e % 16], 1, 3,
                  '$anchor'::timestamptz - interval '46 days' + e * interval '1 second',
                  '$anchor'::timestamptz - interval '46 days' + e * interval '1 second'
             from generate_series(1, $engagements) e""",
    ),
    (
        "infrastructure_engagements",
        """insert into infrastructure_engagements (id, title, summary, lab_id, sector, counterpart_id, kind, state,
                                                   tlp, owner_agency_id, share_agency_ids, share_lab_ids, created_by,
                                                   created_at, updated_at, lab_accepted_at, counterpart_consent,
                                                   counterpart_consent_ref, counterpart_consent_recorded_at)
           overriding system value
           select e, format('Engagement %s', e), 'CISA works with the lab and the operator on a fix.',
                  1 + (e - 1) % $labs, (all_sectors())[1 + e % 16], e,
                  (array['TOOL_ACCESS', 'CVD_COORDINATION', 'CLEARINGHOUSE_SCAN', 'SECURE_BY_DESIGN',
                         'ADVISORY'])[1 + e % 5],
                  (array['PROPOSED', 'SCOPING', 'ACTIVE', 'ACTIVE', 'COMPLETED', 'PAUSED', 'DECLINED',
                         'WITHDRAWN'])[1 + e % 8],
                  (array['CLEAR', 'GREEN', 'GREEN', 'AMBER', 'AMBER_STRICT'])[1 + e % 5],
                  1,
                  case when e % 5 = 3 then array[2, 3]::bigint[] else '{}' end,
                  case when e % 5 = 3 and e % 2 = 0 then array[1 + (e - 1) % $labs]::bigint[] else '{}' end,
                  3,
                  '$anchor'::timestamptz - interval '45 days' + e * interval '1 second',
                  '$anchor'::timestamptz - interval '45 days' + e * interval '1 second',
                  -- those that went ACTIVE (ACTIVE, COMPLETED, PAUSED) with the lab's acceptance and the consent
                  case when 1 + e % 8 in (3, 4, 5, 6) then '$anchor'::timestamptz - interval '40 days' end,
                  case when 1 + e % 8 in (3, 4, 5, 6) then true end,
                  case when 1 + e % 8 in (3, 4, 5, 6) then format('consent %s', e) end,
                  case when 1 + e % 8 in (3, 4, 5, 6) then '$anchor'::timestamptz - interval '40 days' end
             from generate_series(1, $engagements) e""",
    ),
    (
        "engagement_findings",
        """insert into engagement_findings (engagement_id, finding_id)
           select e, 1 + ((e * 29 + x) % $findings) from generate_series(1, $engagements) e, generate_series(0, 1) x
           on conflict do nothing""",
    ),
    (
        "engagement_milestones",
        """insert into engagement_milestones (engagement_id, title, due_on, completed_on, created_at)
           select e, (array['Scope agreed', 'Fix deployed'])[k + 1], '$as_of'::date + ((e * 3 + k * 7) % 60) - 30,
                  case when (e + k) % 3 = 0 then '$as_of'::date - 40 end,
                  '$anchor'::timestamptz - interval '45 days' + e * interval '1 second'
             from generate_series(1, $engagements) e, generate_series(0, 1) k
            order by e, k""",
    ),
]

# One event per record (and `events_per_record - 1` updates), appended in creation order through the chain's
# trigger, which numbers and hashes each.
# The tables whose records leave the hub as STIX objects (sql/020, sql/021) and their events' kind: their STIX ids
# and the time of their latest event made from the data alone, so that the same sizes give the same rows (a random
# UUID and the insertion time otherwise). The ids are version-4-shaped UUIDs from an md5 of the table and the id.
STIX_TABLES = {
    "labs": "LAB",
    "findings": "FINDING",
    "cyber_measures": "MEASURE",
    "infrastructure_counterparts": "COUNTERPART",
    "infrastructure_engagements": "ENGAGEMENT",
}
STIX_SQL = """
    update $table t
       set stix_id = (substr(h, 1, 12) || '4' || substr(h, 14, 3) || '8' || substr(h, 18, 15))::uuid,
           last_event_at = greatest(t.created_at, coalesce(
               (select max(e.at) from events e where e.entity_kind = '$kind' and e.entity_id = t.id), t.updated_at))
      from (select id, md5('frontier-hub bench $table ' || id) as h from $table) d
     where d.id = t.id
"""

MITIGATION_SQL = """
    update findings set mitigation_available_at = created_at + (1 + id % 60) * interval '1 hour'
     where mitigation_available_at is not null
"""

EVENTS_SQL = """
    insert into events (at, actor_principal_id, actor_agency_id, actor_lab_id, entity_kind, entity_id, action,
                        from_state, to_state)
    select r.at + n * interval '1 millisecond', r.principal_id, r.agency_id, r.lab_id, r.kind, r.id,
           case when n = 0 then r.action else 'UPDATED' end, null, case when n = 0 then r.state end
      from (
          select created_at as at, 36 + lab_id as principal_id, null::bigint as agency_id, lab_id, 'MODEL' as kind,
                 id, 'REGISTERED' as action, release_status as state from frontier_models
          union all
          select created_at, created_by, null, lab_id, 'AGREEMENT', id, 'OFFERED', state from early_access_agreements
          union all
          select created_at, created_by, owner_agency_id, null, 'STANDARD', id, 'DRAFTED', state
            from coverage_standards
          union all
          select created_at, requested_by, null, null, 'DECISION', id, 'REQUESTED', state from coverage_decisions
          union all
          select created_at, created_by, owner_agency_id, null, 'EVAL_SUITE', id, 'REGISTERED', null
            from evaluation_suites
          union all
          select created_at, created_by, author_agency_id, case when author_agency_id is null then lab_id end,
                 'COMPUTE_ESTIMATE', id, 'REPORTED', null from compute_estimates
          union all
          select created_at, created_by, run_by_agency_id, case when run_by_agency_id is null then lab_id end,
                 'EVAL_RESULT', id, 'RECORDED', null from evaluation_results
          union all
          select created_at, created_by, owner_agency_id, null, 'FINDING', id, 'REPORTED', state from findings
          union all
          select created_at, created_by, owner_agency_id, null, 'MEASURE', id, 'PLANNED', state from cyber_measures
          union all
          select created_at, created_by, owner_agency_id, null, 'ENGAGEMENT', id, 'OPENED', state
            from infrastructure_engagements
      ) r, generate_series(0, $events - 1) n
     order by r.at, n, r.kind, r.id"""

IDENTITY_TABLES = (
    "principals",
    "labs",
    "frontier_models",
    "early_access_agreements",
    "coverage_standards",
    "coverage_decisions",
    "evaluation_suites",
    "compute_estimates",
    "evaluation_results",
    "findings",
    "cyber_measures",
    "infrastructure_counterparts",
    "infrastructure_engagements",
)
COUNTED_TABLES = (
    *IDENTITY_TABLES,
    "agreement_agencies",
    "coverage_signoffs",
    "coverage_criteria",
    "measure_findings",
    "measure_models",
    "engagement_findings",
    "engagement_milestones",
    "events",
)


async def generate(con: asyncpg.Connection, sizes: Sizes) -> dict[str, int]:
    """Migrate, then fill an empty hub database with `sizes` in one transaction; returns the row counts.

    `con` must act as the tables' owner (or a superuser): the request role could not write most of this.
    """
    sizes = sizes.resolved()
    await migrate(con)
    if await con.fetchval("select exists (select 1 from frontier_models)"):
        raise RuntimeError("the benchmark's data goes into an empty hub database; this one has models")
    values = {
        "labs": sizes.labs,
        "models": sizes.models,
        "findings": sizes.findings,
        "agreements": sizes.agreements,
        "standards": sizes.standards,
        "decisions": sizes.decisions_per_model,
        "measures": sizes.measures,
        "engagements": sizes.engagements,
        "events": sizes.events_per_record,
        "anchor": ANCHOR.isoformat(),
        "as_of": AS_OF.isoformat(),
    }
    async with con.transaction():
        for _table, sql in STATEMENTS:
            await con.execute(Template(sql).substitute(values))
        if sizes.events_per_record:
            await con.execute(Template(EVENTS_SQL).substitute(values))
        for table in STIX_TABLES:
            await con.execute(Template(STIX_SQL).substitute(table=table, kind=STIX_TABLES[table]))
        # a finding made in MITIGATION_AVAILABLE took the insert's clock as the move's time (sql/026): a time made
        # from the data instead, so that two runs give the same rows
        await con.execute(MITIGATION_SQL)
        for table in IDENTITY_TABLES:
            # the next identity after the explicit ids
            await con.execute(f"select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}))")
    await con.execute("vacuum analyze")
    sql = " union all ".join(f"select '{t}' as name, count(*) as n from {t}" for t in COUNTED_TABLES)
    return {r["name"]: r["n"] for r in await con.fetch(sql)}


async def create_tokens(con: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """The principals the benchmark runs as, with their tokens: an agency analyst (CISA) and a lab liaison.

    The one place that calls hub.auth (its signature may change); returns, per principal, the token and the
    settings the row-level security policies read (for the peer, which binds the same ones)."""
    from hub.auth import create_principal_with_token

    lab_name = await con.fetchval("select name from labs where id = $1", LIAISON_LAB)
    made = {
        "analyst": await create_principal_with_token(
            con, agency_code="CISA", role="ANALYST", name="bench CISA analyst"
        ),
        "liaison": await create_principal_with_token(
            con, agency_code=None, role="LAB_LIAISON", name="bench lab liaison", lab_name=lab_name
        ),
    }
    return {
        who: {
            "token": token,
            "principal_id": principal.id,
            "agency_id": principal.agency_id,
            "lab_id": principal.lab_id,
            "role": principal.role,
        }
        for who, (principal, token) in made.items()
    }


def owner_url(data_dir: Path) -> str:
    """The URL of the embedded PostgreSQL in `data_dir` as its superuser (the tables' owner)."""
    return f"postgresql://postgres:@/frontier_hub?host={data_dir.resolve() / 'pgdata'}"


async def _main(args: argparse.Namespace) -> int:
    sizes = sizes_from(args)
    embedded = None
    url = args.database_url
    if url is None:
        embedded = await asyncio.to_thread(start_embedded, args.data_dir)
        await ensure_database(embedded.admin_url, "frontier_hub")
        url = owner_url(args.data_dir)
    try:
        con = await connect(url)
        try:
            started = time.perf_counter()
            counts = await generate(con, sizes)
            seconds = time.perf_counter() - started
            tokens = await create_tokens(con) if args.tokens else None
        finally:
            await con.close()
    finally:
        if embedded is not None:
            embedded.release()
    print(json.dumps({"sizes": asdict(sizes), "counts": counts, "seconds": round(seconds, 1), "tokens": tokens}))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.split("\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path, help="an embedded PostgreSQL's folder (created if new)")
    where.add_argument("--database-url", help="an empty hub database, as the tables' owner")
    add_size_flags(p)
    p.add_argument("--tokens", action="store_true", help="also create the benchmark's principals and print tokens")
    return p


def add_size_flags(p: argparse.ArgumentParser) -> None:
    d = Sizes()
    p.add_argument("--labs", type=int, default=d.labs, help=f"labs (default {d.labs})")
    p.add_argument("--models", type=int, default=d.models, help=f"frontier models (default {d.models})")
    p.add_argument("--findings", type=int, default=d.findings, help=f"findings (default {d.findings})")
    p.add_argument("--agreements", type=int, help="early-access agreements (default: models / 2)")
    p.add_argument("--standards", type=int, help="coverage standards (default: models / 1000, at least 3)")
    p.add_argument(
        "--decisions-per-model", type=int, default=d.decisions_per_model, help="decisions per model (default 2)"
    )
    p.add_argument("--measures", type=int, help="DoD cyber measures (default: findings / 10)")
    p.add_argument("--engagements", type=int, help="CISA engagements (default: findings / 20)")
    p.add_argument("--events-per-record", type=int, default=d.events_per_record, help="events per record (default 1)")


def sizes_from(args: argparse.Namespace) -> Sizes:
    """The sizes the flags ask for, resolved; bad ones end the program with a message naming the flag."""
    try:
        return Sizes(
            labs=args.labs,
            models=args.models,
            findings=args.findings,
            agreements=args.agreements,
            standards=args.standards,
            decisions_per_model=args.decisions_per_model,
            measures=args.measures,
            engagements=args.engagements,
            events_per_record=args.events_per_record,
        ).resolved()
    except ValueError as error:
        raise SystemExit(f"bench: {error}") from None


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(parser().parse_args())))
