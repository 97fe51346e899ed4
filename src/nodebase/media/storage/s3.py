"""S3-compatible storage (AWS S3, MinIO, Cloudflare R2, OpenStack Swift's s3api) via boto3.

Configured by one URL::

    s3://BUCKET?endpoint=http://127.0.0.1:9000&region=us-east-1&access_key=...&secret_key=...
                &prefix=uploads/&path_style=1

Without ``access_key``/``secret_key`` boto3's usual credential chain applies (environment,
instance role...). With an ``endpoint`` the addressing is path-style unless ``path_style=0``.

boto3 is blocking: every call runs on a small dedicated thread pool (never anyio's default
40-thread pool). Uploads stream: the first 8 MiB decide between one ``PutObject`` and a
multipart upload whose parts are sent as they fill, so memory stays at about one part; a
failure aborts the multipart upload, so no partial object is ever visible. Downloads read
the ``GetObject`` body in chunks, with ``Range`` passed through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from nodebase.kernel.errors import BadRequest
from nodebase.media import names
from nodebase.media.storage.base import (
    CHUNK,
    ByteRange,
    ChunkStream,
    ObjectInfo,
    PresignedRequest,
    StorageUnavailable,
)

T = TypeVar("T")

PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    prefix: str = ""
    path_style: bool = True

    @classmethod
    def from_url(cls, url: str) -> S3Config:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("A storage URL for S3 looks like s3://BUCKET?endpoint=...&region=...")
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        bucket = parts.hostname or parts.netloc
        access_key = q.get("access_key") or q.get("accessKeyId") or None
        secret_key = q.get("secret_key") or q.get("secretAccessKey") or None
        if parts.username:  # s3://KEY:SECRET@bucket
            from urllib.parse import unquote

            access_key = unquote(parts.username)
            secret_key = unquote(parts.password or "")
        prefix = (q.get("prefix") or "").lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        endpoint = q.get("endpoint") or None
        path_style = q.get("path_style", "1" if endpoint else "0").lower() in ("1", "true", "yes")
        return cls(bucket=bucket, endpoint=endpoint, region=q.get("region") or "us-east-1",
                   access_key=access_key, secret_key=secret_key, prefix=prefix, path_style=path_style)


class S3Storage:
    type = "s3"

    def __init__(self, config: S3Config, *, threads: int = 4) -> None:
        import boto3
        from botocore.config import Config

        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nodebase-s3")
        session = boto3.session.Session()
        self.client: Any = session.client(
            "s3",
            endpoint_url=config.endpoint,
            region_name=config.region,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if config.path_style else "auto"},
                max_pool_connections=threads * 2,
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    # -- plumbing --------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        except Exception as exc:
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    def _key(self, key: str) -> str:
        names.check_traversal(key)
        if not names.is_canonical(key):
            raise names.InvalidFileName("Invalid file name", context={"name": key[:300]})
        return self.config.prefix + key

    async def start(self) -> None:
        # Only a probe: a bucket that is down at start must not keep the node from starting.
        with contextlib.suppress(StorageUnavailable):
            await self._run(self.client.head_bucket, Bucket=self.config.bucket)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.client.close()

    # -- writes ----------------------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> ObjectInfo:
        full = self._key(key)
        bucket = self.config.bucket
        buf = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                buf += chunk
                if len(buf) >= PART_SIZE:
                    if upload_id is None:
                        created = await self._run(
                            self.client.create_multipart_upload,
                            Bucket=bucket, Key=full, ContentType=content_type,
                        )
                        upload_id = created["UploadId"]
                    body, buf = bytes(buf), bytearray()
                    number = len(parts) + 1
                    res = await self._run(
                        self.client.upload_part, Bucket=bucket, Key=full, UploadId=upload_id,
                        PartNumber=number, Body=body,
                    )
                    parts.append({"PartNumber": number, "ETag": res["ETag"]})
            if upload_id is None:
                await self._run(self.client.put_object, Bucket=bucket, Key=full,
                                Body=bytes(buf), ContentType=content_type)
            else:
                if buf or not parts:
                    number = len(parts) + 1
                    res = await self._run(
                        self.client.upload_part, Bucket=bucket, Key=full, UploadId=upload_id,
                        PartNumber=number, Body=bytes(buf),
                    )
                    parts.append({"PartNumber": number, "ETag": res["ETag"]})
                await self._run(
                    self.client.complete_multipart_upload, Bucket=bucket, Key=full,
                    UploadId=upload_id, MultipartUpload={"Parts": parts},
                )
                upload_id = None
        finally:
            if upload_id is not None:
                # shielded: a client that hangs up must not leave parts behind
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._run(
                        self.client.abort_multipart_upload, Bucket=bucket, Key=full,
                        UploadId=upload_id,
                    ))
        info = await self.head(key)
        if info is None:
            raise StorageUnavailable("The storage did not keep the uploaded object",
                                     context={"key": key})
        return info

    async def delete(self, key: str) -> bool:
        existed = await self.head(key) is not None
        await self._run(self.client.delete_object, Bucket=self.config.bucket, Key=self._key(key))
        return existed

    # -- reads -----------------------------------------------------------------------------
    async def head(self, key: str) -> ObjectInfo | None:
        try:
            res = await self._run(self.client.head_object, Bucket=self.config.bucket, Key=self._key(key))
        except FileNotFoundError:
            return None
        return ObjectInfo(
            key=key,
            size=int(res["ContentLength"]),
            last_modified=_utc(res["LastModified"]),
            etag=str(res.get("ETag", "")).strip('"'),
            content_type=res.get("ContentType"),
        )

    async def open(self, key: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Key": self._key(key)}
        if byte_range is not None:
            kwargs["Range"] = f"bytes={byte_range.start}-{byte_range.end}"
        res = await self._run(self.client.get_object, **kwargs)
        body = res["Body"]

        async def read() -> bytes:
            data: bytes = await self._run(body.read, CHUNK)
            return data

        def release() -> None:
            with contextlib.suppress(Exception):
                body.close()

        return ChunkStream(read, release)

    async def list(self) -> list[ObjectInfo]:
        def collect() -> list[ObjectInfo]:
            out = []
            prefix = self.config.prefix
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(prefix):]
                    if not key or "/" in key or not names.is_canonical(key):
                        continue
                    out.append(ObjectInfo(key=key, size=int(obj["Size"]),
                                          last_modified=_utc(obj["LastModified"]),
                                          etag=str(obj.get("ETag", "")).strip('"')))
            return out

        return await self._run(collect)

    # -- presigned URLs (real S3 signatures; the client talks to the bucket directly) ------------
    def presign_put(self, key: str, content_type: str, expires_in: int) -> PresignedRequest | None:
        url = self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.config.bucket, "Key": self._key(key), "ContentType": content_type},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        return PresignedRequest(url=url, method="PUT", headers={"Content-Type": content_type})

    def presign_get(self, key: str, expires_in: int) -> str | None:
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.config.bucket, "Key": self._key(key)},
            ExpiresIn=expires_in,
        ))

    def describe(self) -> dict[str, object]:
        c = self.config
        return {"type": "s3", "config": {
            "bucket": c.bucket, "endpoint": c.endpoint, "region": c.region, "prefix": c.prefix,
            "path_style": c.path_style, "access_key": c.access_key,
        }}


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _translate(exc: Exception) -> Exception:
    """botocore errors → FileNotFoundError (missing key) or StorageUnavailable (anything else)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return FileNotFoundError(code)
        if code in ("InvalidRange",) or status == 416:
            return BadRequest("Requested range not satisfiable", status=416)
        return StorageUnavailable(f"The storage refused the request ({code or status})",
                                  context={"code": code})
    if isinstance(exc, BotoCoreError):
        return StorageUnavailable(f"The storage is unreachable: {type(exc).__name__}")
    return exc
