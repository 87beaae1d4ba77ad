"""Fixtures of the S3 blob store tests: a throw-away Ceph cluster with a RADOS Gateway for
the session (``ceph.py``), a fresh bucket per test, data directories and servers whose
``[blobs]`` use it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from tests.conftest import ServerThread, free_port, make_data_dir, need
from tests.store.s3.ceph import CephCluster


@pytest.fixture(scope="session")
def ceph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    for tool, package in (("ceph-mon", "ceph-mon"), ("ceph-osd", "ceph-osd"), ("radosgw", "radosgw"),
                          ("radosgw-admin", "ceph-common"), ("ceph-authtool", "ceph-common"),
                          ("monmaptool", "ceph-base")):
        need(tool, package)
    cluster = CephCluster(tmp_path_factory.mktemp("ceph"), free_port(), free_port())
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def s3_client(ceph: CephCluster, secret_key: str | None = None) -> Minio:
    """An S3 client of its own (minio-py), to look at the bucket beside the store."""
    return Minio(ceph.endpoint.removeprefix("http://"), access_key=ceph.access_key,
                 secret_key=secret_key or ceph.secret_key, secure=False, region="us-east-1")


@pytest.fixture
def bucket(ceph: CephCluster) -> str:
    name = f"congthu-{uuid.uuid4().hex[:12]}"
    s3_client(ceph).make_bucket(name)
    return name


def blob_settings(ceph: CephCluster, bucket: str, **overrides: Any) -> dict[str, Any]:
    """[blobs] for the test bucket; parts of 5 MiB, so a 6 MiB attachment is multipart."""
    return {"backend": "s3", "s3_endpoint": ceph.endpoint, "s3_bucket": bucket,
            "s3_access_key": ceph.access_key, "s3_secret_key": ceph.secret_key,
            "multipart_threshold_mib": 5, "s3_timeout": 5.0, **overrides}


def start_s3_server(data: Path, blobs: dict[str, Any]) -> ServerThread:
    asyncio.run(make_data_dir(data, blobs=blobs))
    return ServerThread(data).start()


@pytest.fixture
def s3_server(tmp_path: Path, ceph: CephCluster, bucket: str) -> Iterator[ServerThread]:
    running = start_s3_server(tmp_path / "data", blob_settings(ceph, bucket))
    try:
        yield running
    finally:
        running.stop()
