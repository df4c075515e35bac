"""HR systems as the source of people: connectors that read a partner's employees from its HR
system's API (AFAS Profit's GetConnector, Visma Raet's IAM API) or from the export file it
drops, and give them as the inventory's people rows through the partner's mapping file.

Each connector reads in bulk, pages, retries what is worth another try (`ssc_infra.http.retry`)
and raises `HrError` for everything else; what is then done with the answer (the guard, the
last good file kept) is `ssc_infra.lifecycle.hrpull`'s.
"""
