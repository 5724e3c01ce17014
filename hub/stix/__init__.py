"""STIX 2.1 content and the per-principal feed the TAXII 2.1 server serves (docs/design.md, "STIX content").

hub/stix/content.py turns records into STIX objects; hub/stix/feed.py reads, under the visibility rule, what each
principal gets of each collection and when it was added.
"""
