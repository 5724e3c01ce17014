"""Signed webhooks (docs/live.md, "Webhooks"): endpoints an agency's admins or a lab's liaisons register, sent the
events their owner may see, signed as the Standard Webhooks specification has it, in cursor order, at least once.

- secrets.py: the signing secrets (whsec_...), encrypted at rest with the operator's key.
- http.py: the URL rules and the one HTTP POST the hub makes to an endpoint (the address checked is the address
  connected to; no redirects; a bounded response).
- payload.py: the versioned JSON body and the signature headers.
- worker.py: the delivery worker: one per process, one delivery at a time per endpoint across processes
  (advisory locks), the cursor per endpoint in PostgreSQL.
"""
