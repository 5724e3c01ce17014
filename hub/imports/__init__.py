"""`hub import kev FILE` and `hub import cve FILE_OR_DIR`: CISA's Known Exploited Vulnerabilities catalogue and the
CVE Program's records, loaded by an operator (docs/operators.md, "Importing the KEV catalogue and CVE records";
the rule in docs/design.md, "Imported findings").

Both run the same way (hub.imports.common):
1. Read and validate the whole input against the source's own published JSON schema (vendored in
   hub/imports/schemas/, see its README.md for where each comes from and its licence), plus the checks the hub's
   columns need. Any problem: every problem found is printed, naming the file, the record and the field, the exit
   status is 2 and nothing is written.
2. Write in batches, each in its own transaction: a finding created or changed records its event in the same
   transaction, as every write of the hub does. A record whose facts the database already holds is left alone
   (unchanged: no version, no event), so a second run writes nothing, and a run that was interrupted resumes when
   run again: the batches it committed count as unchanged, the rest are written.
3. Print a summary line of what was created, updated and left unchanged.

The importer runs as the operator, with the table owner's connection (hub.cli `_with_database`), acting for CISA:
its events name CISA as the acting agency and no principal (no person acted), and their details say the source
(the catalogue's version, or the CVE record's id and date).
"""
