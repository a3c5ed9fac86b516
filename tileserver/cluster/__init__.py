"""Cluster mode: pyramids in an S3-compatible object store, builds on Dask distributed, Redis between nodes.

Nothing here runs unless the cluster settings (store_url, dask_scheduler, redis_url) are given; the embedded
default (one machine, the local disk cache and its file locks) does not import this package.
"""
