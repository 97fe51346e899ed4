"""Read an uploaded file from a request as a stream: a raw body (what bknd's client sends) or
the first file part of a ``multipart/form-data`` body (what forms and curl send).

Nothing is buffered beyond the chunk at hand: the multipart body is parsed incrementally and
the chosen part's bytes are handed on as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from nodebase.kernel.errors import BadRequest
from nodebase.media.names import normalize_mime


class UploadAborted(BadRequest):
    """The client went away mid-upload (the answer is never read; nothing is kept)."""

    type = "UploadAbortedException"


class NoFile(BadRequest):
    type = "NoFileException"


@dataclass
class IncomingFile:
    chunks: AsyncIterator[bytes]
    content_type: str
    #: the file name a multipart part carried (raw bodies have none)
    filename: str | None = None
    #: the body's Content-Length, when the client sent one (an upper bound for multipart)
    declared_size: int | None = None


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise UploadAborted("The client closed the connection during the upload") from None


def _declared(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw and raw.isdigit() else None


async def incoming_file(request: Request) -> IncomingFile:
    ctype = request.headers.get("content-type", "")
    kind, params = parse_options_header(ctype)
    if kind == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise BadRequest("multipart/form-data without a boundary")
        reader = _MultipartFile(_body(request), boundary)
        await reader.find_file()
        return IncomingFile(reader.chunks(), reader.content_type, reader.filename, _declared(request))
    return IncomingFile(_body(request), normalize_mime(ctype), None, _declared(request))


class _MultipartFile:
    """Feeds the body to python-multipart and yields the data of the first file part."""

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes) -> None:
        self.body = body
        self.content_type = "application/octet-stream"
        self.filename: str | None = None
        self._pending: list[bytes] = []
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._state = "seeking"  # seeking | found | done
        self._in_chosen = False
        try:
            self._parser = self._make_parser(boundary)
        except FormParserError as exc:
            raise BadRequest(f"Malformed multipart body: {exc}") from None

    def _make_parser(self, boundary: bytes) -> MultipartParser:
        return MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        })

    # python-multipart callbacks (synchronous)
    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        if self._state != "seeking":
            return
        kind, disp = parse_options_header(self._headers.get(b"content-disposition", b""))
        if kind != b"form-data":  # RFC 7578 §4.2: every part says form-data
            raise BadRequest('Malformed multipart body: a part\'s Content-Disposition is not "form-data"',
                             context={"content_disposition": kind.decode("latin-1")[:100]})
        if b"filename" not in disp:
            return
        self.filename = disp[b"filename"].decode("utf-8", "replace") or None
        self.content_type = normalize_mime(
            self._headers.get(b"content-type", b"application/octet-stream").decode("latin-1"))
        self._state = "found"
        self._in_chosen = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_chosen and end > start:
            self._pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        if self._in_chosen:
            self._in_chosen = False
            self._state = "done"

    def _feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise BadRequest(f"Malformed multipart body: {exc}") from None

    async def find_file(self) -> None:
        while self._state == "seeking":
            chunk = await anext(self.body, None)
            if chunk is None:
                raise NoFile("The multipart body has no file part")
            self._feed(chunk)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            if self._pending:
                out, self._pending = self._pending, []
                for piece in out:
                    yield piece
            if self._state == "done":
                return
            chunk = await anext(self.body, None)
            if chunk is None:
                raise BadRequest("The multipart body ended inside the file part")
            self._feed(chunk)
