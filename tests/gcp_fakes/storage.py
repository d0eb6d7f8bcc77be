"""A Cloud Storage JSON API fake: buckets and objects in memory, uploads answered with real hashes.

Serves what gcloud's commands send (`gcloud storage ...`, `flex-template build`'s spec upload,
`builds submit`'s source tarball): bucket get/list/create/patch/delete, object get (metadata or
`alt=media`), list (prefix, delimiter), delete, and uploads (multipart, media and resumable).
An upload's answer carries the object's real `size`, `md5Hash` and `crc32c`, base64 of the
big-endian digest (https://cloud.google.com/storage/docs/json_api/v1/objects): gcloud refuses an
upload whose answer does not match the bytes it sent. Names are held to the documented rules.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import google_crc32c

from tests.gcp_fakes.schema import decode
from tests.gcp_fakes.server import Answer, Refused, Request, Service, route

# https://cloud.google.com/storage/docs/buckets#naming
BUCKET_CHARS = re.compile(r"[a-z0-9][-a-z0-9_.]*[a-z0-9]")


def bucket_name_errors(name: str) -> list[str]:
    """Every Cloud Storage bucket naming rule `name` breaks (empty when it is a valid name)."""
    errors = []
    if not BUCKET_CHARS.fullmatch(name):
        errors.append("only a-z, 0-9, -, _ and ., beginning and ending with a letter or digit")
    limit = 222 if "." in name else 63
    if not 3 <= len(name) <= limit:
        errors.append(f"3 to {limit} characters")
    if any(len(part) > 63 for part in name.split(".")):
        errors.append("each dot-separated component at most 63 characters")
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        errors.append('no "goog" prefix and no "google" inside')
    try:
        ipaddress.ip_address(name)
        errors.append("not an IP address in dotted-decimal notation")
    except ValueError:
        pass
    return errors


def object_name_errors(name: str) -> list[str]:
    """https://cloud.google.com/storage/docs/objects#naming"""
    errors = []
    if not 1 <= len(name.encode()) <= 1024:
        errors.append("1 to 1024 bytes of UTF-8")
    if "\r" in name or "\n" in name:
        errors.append("no carriage return or line feed")
    if name in {".", ".."} or name.startswith(".well-known/acme-challenge/"):
        errors.append('not "." or ".." nor under .well-known/acme-challenge/')
    return errors


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StoredObject:
    bucket: str
    name: str
    data: bytes
    content_type: str
    generation: int
    created: str = field(default_factory=now)

    def resource(self) -> dict:
        crc = google_crc32c.Checksum(self.data).digest()
        return {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": "1",
            "contentType": self.content_type,
            "size": str(len(self.data)),
            "md5Hash": base64.b64encode(hashlib.md5(self.data).digest()).decode(),
            "crc32c": base64.b64encode(crc).decode(),
            "storageClass": "STANDARD",
            "timeCreated": self.created,
            "updated": self.created,
            "etag": f"CK{self.generation}",
        }


def multipart(request: Request) -> tuple[dict, bytes]:
    """The JSON metadata and the media of a multipart/related upload (bare `\\n` or CRLF)."""
    found = re.search(r"""boundary=["']?([^"';]+)["']?""", request.headers.get("content-type", ""))
    if not found:
        raise Refused(400, "multipart upload without a boundary")
    delimiter = b"--" + found.group(1).encode()
    parts = []
    for raw in request.body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        chunk = raw.removeprefix(b"\r\n").removeprefix(b"\n")
        ends = [(chunk.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n") if sep in chunk]
        end, separator = min(ends)
        content = chunk[end + len(separator) :]
        content = content[:-2] if content.endswith(b"\r\n") else content.removesuffix(b"\n")
        parts.append(content)
    if len(parts) != 2:
        raise Refused(400, f"multipart upload of {len(parts)} parts: expected metadata and media")
    return json.loads(parts[0] or b"{}"), parts[1]


class Storage(Service):
    """Buckets (`add_bucket`) and their objects (`objects[(bucket, name)]`)."""

    def __init__(self) -> None:
        super().__init__(api="storage")
        self.buckets: dict[str, dict] = {}
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.uploads: dict[str, dict] = {}
        self.generations = itertools.count(1_700_000_000_000_000)

    def add_bucket(self, name: str, project: str = "", **fields) -> dict:
        errors = bucket_name_errors(name)
        if errors:
            raise Refused(400, f"Invalid bucket name: '{name}': {'; '.join(errors)}")
        self.buckets[name] = {
            "kind": "storage#bucket",
            "id": name,
            "name": name,
            "projectNumber": str(abs(hash(project)) % 10**12),
            "location": "EU",
            "storageClass": "STANDARD",
            "timeCreated": now(),
            "metageneration": "1",
            **fields,
        }
        return self.buckets[name]

    def bucket(self, name: str) -> dict:
        if name not in self.buckets:
            raise Refused(404, "The specified bucket does not exist.")
        return self.buckets[name]

    def read(self, bucket: str, name: str) -> bytes:
        """The bytes of gs://bucket/name (what a service reading it would get), or Refused(404)."""
        stored = self.objects.get((bucket, name))
        if stored is None:
            raise Refused(404, f"No such object: {bucket}/{name}")
        return stored.data

    def put(self, bucket: str, name: str, data: bytes, content_type: str) -> dict:
        self.bucket(bucket)
        errors = object_name_errors(name)
        if errors:
            raise Refused(400, f"Invalid object name '{name}': {'; '.join(errors)}")
        stored = StoredObject(bucket, name, data, content_type, next(self.generations))
        self.objects[(bucket, name)] = stored
        return stored.resource()

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)")
    def get_bucket(self, request: Request, bucket: str) -> dict:
        return self.bucket(unquote(bucket))

    @route("GET", r"/storage/v1/b")
    def list_buckets(self, request: Request) -> dict:
        return {"kind": "storage#buckets", "items": list(self.buckets.values())}

    @route("POST", r"/storage/v1/b")
    def create_bucket(self, request: Request) -> dict:
        body = request.json()
        decode("storage", "v1", "Bucket", body)
        if body.get("name") in self.buckets:
            raise Refused(409, "Your previous request to create the named bucket succeeded.")
        fields = {k: v for k, v in body.items() if k != "name"}
        return self.add_bucket(body.get("name", ""), request.query.get("project", ""), **fields)

    @route("PATCH", r"/storage/v1/b/(?P<bucket>[^/]+)")
    def patch_bucket(self, request: Request, bucket: str) -> dict:
        body = request.json()
        decode("storage", "v1", "Bucket", body)
        resource = self.bucket(unquote(bucket))
        resource.update(body)
        resource["metageneration"] = str(int(resource["metageneration"]) + 1)
        return resource

    @route("DELETE", r"/storage/v1/b/(?P<bucket>[^/]+)")
    def delete_bucket(self, request: Request, bucket: str) -> Answer:
        name = unquote(bucket)
        self.bucket(name)
        if any(key[0] == name for key in self.objects):
            raise Refused(409, "The bucket you tried to delete is not empty.")
        del self.buckets[name]
        return Answer(b"", 204)

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)")
    def get_object(self, request: Request, bucket: str, name: str) -> dict | Answer:
        bucket, name = unquote(bucket), unquote(name)
        self.bucket(bucket)
        data = self.read(bucket, name)
        stored = self.objects[(bucket, name)]
        if request.query.get("alt") == "media":
            return Answer(data, content_type=stored.content_type)
        # Object.mediaLink: where the object's data is downloaded from (gcloud storage cat and
        # cp read it; https://cloud.google.com/storage/docs/json_api/v1/objects#resource).
        link = f"http://{request.headers['host']}/download/storage/v1/b/{quote(bucket)}/o/"
        media = f"{link}{quote(name, safe='')}?generation={stored.generation}&alt=media"
        return {**stored.resource(), "mediaLink": media}

    @route("GET", r"/download/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)")
    def download_object(self, request: Request, bucket: str, name: str) -> Answer:
        bucket, name = unquote(bucket), unquote(name)
        self.bucket(bucket)
        data = self.read(bucket, name)
        return Answer(data, content_type=self.objects[(bucket, name)].content_type)

    @route("DELETE", r"/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)")
    def delete_object(self, request: Request, bucket: str, name: str) -> Answer:
        bucket, name = unquote(bucket), unquote(name)
        self.read(bucket, name)
        del self.objects[(bucket, name)]
        return Answer(b"", 204)

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o")
    def list_objects(self, request: Request, bucket: str) -> dict:
        bucket = unquote(bucket)
        self.bucket(bucket)
        prefix, delimiter = request.query.get("prefix", ""), request.query.get("delimiter")
        items, prefixes = [], set()
        for (in_bucket, name), stored in sorted(self.objects.items()):
            if in_bucket != bucket or not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
            else:
                items.append(stored.resource())
        return {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)}

    @route("POST", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o")
    def upload(self, request: Request, bucket: str) -> dict | Answer:
        bucket = unquote(bucket)
        self.bucket(bucket)
        kind = request.query.get("uploadType")
        if kind == "multipart":
            metadata, data = multipart(request)
        elif kind == "media":
            metadata, data = {"name": request.query.get("name", "")}, request.body
        elif kind == "resumable":
            return self.start_resumable(request, bucket)
        else:
            raise Refused(400, f"uploadType={kind!r}: expected multipart, media or resumable")
        decode("storage", "v1", "Object", metadata)
        if "size" in metadata and int(metadata["size"]) != len(data):
            raise Refused(400, f"size {metadata['size']} but {len(data)} bytes were sent")
        name = metadata.get("name") or request.query.get("name", "")
        content_type = metadata.get("contentType", "application/octet-stream")
        return self.put(bucket, name, data, content_type)

    def start_resumable(self, request: Request, bucket: str) -> Answer:
        metadata = request.json() if request.body else {}
        decode("storage", "v1", "Object", metadata)
        upload_id = f"upload-{len(self.uploads) + 1}"
        self.uploads[upload_id] = {"bucket": bucket, **metadata}
        if "name" not in metadata:
            self.uploads[upload_id]["name"] = request.query.get("name", "")
        host = request.headers.get("host", "127.0.0.1")
        location = f"http://{host}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
        return Answer(b"", 200, headers={"Location": location})

    @route("PUT", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o")
    def finish_resumable(self, request: Request, bucket: str) -> dict:
        upload = self.uploads.pop(request.query.get("upload_id", ""), None)
        if upload is None:
            raise Refused(404, "No such upload session")
        content_type = upload.get("contentType", "application/octet-stream")
        return self.put(upload["bucket"], upload["name"], request.body, content_type)
