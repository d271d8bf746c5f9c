"""Receive a multipart/form-data upload as it streams in, writing its file part to disk.

FastAPI's `UploadFile` reads the whole body before the endpoint runs, with no size bound; here
every byte is counted as it arrives, whatever Content-Length says, and the read stops at the cap.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import (
    MultipartParser,
    MultipartState,
    parse_options_header,
)
from starlette.requests import Request

MAX_FIELD_BYTES = 1024


class UploadTooLarge(Exception):
    pass


class UnsupportedMediaType(Exception):
    pass


class MalformedUpload(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # of the file part, as the client named it
    has_file: bool = False


class _Receiver:
    """python-multipart callbacks: the file part goes to `dest`, small text fields to memory."""

    def __init__(self, file_field: str, dest: Path, max_field_bytes: int = MAX_FIELD_BYTES,
                 fields: Collection[str] | None = None, file_label: str | None = None):
        self.file_field, self.dest, self.max_field_bytes = file_field, dest, max_field_bytes
        self.fields, self.file_label = fields, file_label
        self.upload = Upload()
        self.headers: dict[str, str] = {}
        self.header_name = self.header_value = b""
        self.part_name: str | None = None
        self.sink: BinaryIO | None = None
        self.value = bytearray()

    def on_part_begin(self) -> None:
        self.headers, self.part_name, self.value = {}, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.decode("latin-1").lower()] = self.header_value.decode("latin-1")
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", ""))
        self.part_name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.part_name == self.file_field:
            if self.upload.has_file:
                raise MalformedUpload(self.file_field, "send one file")
            self.upload.has_file = True
            filename = options.get(b"filename")
            self.upload.filename = filename.decode("utf-8", "replace") if filename is not None else None
            self.sink = self.dest.open("wb")
        else:
            self._refuse_unknown(options.get(b"filename") is not None)

    def _refuse_unknown(self, is_file: bool) -> None:
        """A file in any other part, or a text field the endpoint does not read, is named with
        what was expected, before its bytes are read (not as "longer than 1024 bytes")."""
        name = self.part_name or ""
        if is_file and (self.file_label or self.fields is not None):
            label = self.file_label or "the file"
            raise MalformedUpload(name or "body", f"unknown field `{name}`; send {label} as `{self.file_field}`")
        if self.fields is not None and name not in self.fields:
            expected = ", ".join(f"`{f}`" for f in (self.file_field, *self.fields))
            raise MalformedUpload(name or "body", f"unknown field `{name}`; this endpoint reads {expected}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.sink is not None:
            self.sink.write(data[start:end])
            return
        self.value += data[start:end]
        if len(self.value) > self.max_field_bytes:
            raise MalformedUpload(self.part_name or "body", f"longer than {self.max_field_bytes} bytes")

    def on_part_end(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        elif self.part_name:
            self.upload.fields[self.part_name] = self.value.decode("utf-8", "replace")

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


async def receive_upload(request: Request, file_field: str, dest: Path, max_bytes: int, *,
                         max_field_bytes: int = MAX_FIELD_BYTES, fields: Collection[str] | None = None,
                         file_label: str | None = None) -> Upload:
    """Parse the request body; the part named `file_field` is written to `dest`.
    `fields`, when given, are the text fields the endpoint reads: any other is refused by name, as
    is a file sent in any part but `file_field` (also refused where only `file_label`, what that
    file is, is given).
    Raises UploadTooLarge past `max_bytes` of body, UnsupportedMediaType for a body that is not
    multipart/form-data and MalformedUpload for a part that is wrong."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise UnsupportedMediaType("send the archive as multipart/form-data, in a part named `file`")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge()  # cheap early answer; the count below is what really holds
    receiver = _Receiver(file_field, dest, max_field_bytes, fields, file_label)
    callbacks = {name: getattr(receiver, name) for name in dir(_Receiver) if name.startswith("on_")}
    parser = MultipartParser(options[b"boundary"], callbacks)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLarge()
            parser.write(chunk)
        if parser.state != MultipartState.END:  # finalize() does not check this itself
            raise MalformedUpload("body", "the multipart body ends before its closing boundary")
    except ValueError as error:  # python-multipart's parse errors
        raise MalformedUpload("body", f"malformed multipart body: {error}") from None
    finally:
        receiver.close()
    return receiver.upload
