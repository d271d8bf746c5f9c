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
    boundary = _boundary_of(request, max_bytes)
    receiver = _Receiver(file_field, dest, max_field_bytes, fields, file_label)
    await _parse(request, receiver, boundary, max_bytes)
    return receiver.upload


def _boundary_of(request: Request, max_bytes: int) -> bytes:
    """The multipart boundary; UnsupportedMediaType for another body, UploadTooLarge for a
    Content-Length over `max_bytes`."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise UnsupportedMediaType("send the archive as multipart/form-data, in a part named `file`")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge()  # cheap early answer; the count in _parse is what really holds
    return options[b"boundary"]


async def _parse(request: Request, receiver: "_Receiver", boundary: bytes, max_bytes: int) -> None:
    """Feed the body to `receiver`'s callbacks as it streams in, counting every byte."""
    callbacks = {name: getattr(receiver, name) for name in dir(type(receiver)) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)
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


@dataclass(frozen=True)
class ReceivedFile:
    field: str  # the part it came in
    filename: str | None  # as the client named it
    path: Path


@dataclass
class Files:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)


class _FilesReceiver(_Receiver):
    """Several file parts, each written to the next `file-<n>` in `folder`: parts named in
    `file_fields`, any of them repeated, at most `max_files` in all."""

    def __init__(self, file_fields: tuple[str, ...], folder: Path, max_files: int, max_field_bytes: int,
                 fields: Collection[str]):
        super().__init__(file_fields[0], folder / "file-0", max_field_bytes)
        self.file_fields, self.folder, self.max_files, self.text_fields = file_fields, folder, max_files, fields
        self.received = Files()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", ""))
        self.part_name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        expected = ", ".join(f"`{f}`" for f in (*self.file_fields, *self.text_fields))
        if self.part_name not in self.file_fields:
            if filename is not None or self.part_name not in self.text_fields:
                raise MalformedUpload(self.part_name or "body", f"unknown field `{self.part_name}`; this endpoint "
                                                                f"reads {expected}")
            return
        if len(self.received.files) == self.max_files:
            raise MalformedUpload(self.part_name, f"send at most {self.max_files} files")
        path = self.folder / f"file-{len(self.received.files)}"
        name = filename.decode("utf-8", "replace") if filename is not None else None
        self.received.files.append(ReceivedFile(self.part_name, name, path))
        self.sink = path.open("wb")

    def on_part_end(self) -> None:
        if self.sink is None and self.part_name:
            self.received.fields[self.part_name] = self.value.decode("utf-8", "replace")
        super().on_part_end()


async def receive_files(request: Request, file_fields: tuple[str, ...], folder: Path, max_bytes: int, *,
                        max_files: int, fields: Collection[str], max_field_bytes: int = MAX_FIELD_BYTES) -> Files:
    """Parse the request body: each part named in `file_fields` (repeatable) is written to
    `folder` as file-0, file-1, ... in the order sent; `fields` are the text fields the endpoint
    reads, any other part is refused by name. Raises as `receive_upload` does."""
    boundary = _boundary_of(request, max_bytes)
    receiver = _FilesReceiver(file_fields, folder, max_files, max_field_bytes, fields)
    await _parse(request, receiver, boundary, max_bytes)
    return receiver.received
