"""Sobre's benchmarks (``make bench``; ``python -m bench --smoke`` in ``make test``).

Never deployed. Each section measures one claim of docs/DESIGN.md against a target and
returns rows for one table, also written as JSON to bench/results.json:

1. DynamoDB capacity per operation (RRU, WRU of the table and its index), metered by
   bench/capacity.py on dynalite (moto when dynalite is missing), and S3 PUTs;
2. the ``by_status`` index versus a table scan, items read (dynalite, else moto);
3. CPU of Sobre's own code per pixel open and per SES event (in-memory fakes);
4. cold start: a fresh process importing ``app`` and serving a pixel, versus
   ``import boto3``;
5. 200 concurrent pixel requests against ``chalice local`` + moto;
6. the size of the ``chalice package`` deployment zip.
"""
