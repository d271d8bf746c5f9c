"""One method, two clients: the return types a type checker reads.

The SDK's operations are written once (ganforge/_api.py), each handing a flow to `self._run`: the
sync Client runs it and answers its result, the AsyncClient answers an awaitable of it. Python's
annotations cannot say "T on one class, Awaitable[T] on the other" of a single method, so
`@answers` says it: a method annotated `-> T` on a `Surface[Sync]` (the Client and its `jobs`,
`models`, `datasets`) is read as answering T, and on a `Surface[Async]` as answering
Awaitable[T]. At run time `answers` is nothing: the method stays the function it was.
"""

from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    overload,
)

P = ParamSpec("P")
T = TypeVar("T")


class Sync:
    """The mode of `Client`: its methods answer their result."""


class Async:
    """The mode of `AsyncClient`: its methods answer an awaitable of their result."""


Mode = TypeVar("Mode", Sync, Async)


class Surface(Generic[Mode]):
    """Whatever hands flows to a client's `_run`: the client itself or one of its resources."""

    _run: Any  # the client's: it runs a flow (sync) or makes an awaitable of it (async)


if TYPE_CHECKING:

    class answers(Generic[P, T]):  # noqa: N801 - used as a decorator, named as one
        def __init__(self, method: Callable[Concatenate[Any, P], T]) -> None: ...

        @overload
        def __get__(self, surface: None, owner: type) -> "answers[P, T]": ...
        @overload
        def __get__(self, surface: Surface[Sync], owner: type) -> Callable[P, T]: ...
        @overload
        def __get__(self, surface: Surface[Async], owner: type) -> Callable[P, Awaitable[T]]: ...
        def __get__(self, surface: object, owner: type) -> Any: ...

else:

    def answers(method):
        return method
