"""Which answer the client asked for (Accept) and whether the request can be one picture."""

import asyncio

import pytest

from service.api.errors import Problem
from service.api.jobs.answer import ANY_IMAGE, accepted_image, keeps_output, negotiate
from service.api.schemas.generate import GenerateRequest


@pytest.mark.parametrize(("accept", "image"), [
    (None, None),
    ("application/json", None),
    ("*/*", None),
    ("image/png", "png"),
    ("image/webp, application/json;q=0.5", "webp"),
    ("application/json, image/jpeg;q=0.9", None),
    ("application/json;q=0.1, image/jpeg", "jpeg"),
    ("image/*", ANY_IMAGE),
    ("image/png;q=0, application/json", None),
    ("text/html, image/avif", None),
])
def test_accept_picks_an_image_format_or_json(accept, image):
    assert asyncio.run(accepted_image(accept)) == image


@pytest.mark.parametrize(("prefer", "kept"), [
    (None, False), ("wait=5", False), ("keep-output", True), ("wait=5, Keep-Output", True),
    ("keep-output; why=thumbnail", True), ("keep-outputs", False), ("wait=keep-output", False),
])
def test_prefer_keep_output_is_read_with_accept_for_the_submit_path(prefer, kept):
    async def read() -> bool:  # in the request's context, as the route and its submit run
        await accepted_image("image/png", prefer)
        return keeps_output()

    assert asyncio.run(read()) is kept


def test_the_format_comes_from_accept_unless_the_body_says_otherwise():
    assert negotiate(GenerateRequest(model="m"), "jpeg", pictures=1).format == "jpeg"
    assert negotiate(GenerateRequest(model="m", format="webp"), ANY_IMAGE, pictures=1).format == "webp"
    with pytest.raises(Problem) as clash:
        negotiate(GenerateRequest(model="m", format="png"), "webp", pictures=1)
    assert clash.value.status == 406
    with pytest.raises(Problem) as many:
        negotiate(GenerateRequest(model="m", n=4), "png", pictures=4)
    assert many.value.status == 406 and "grid" in many.value.detail
    assert negotiate(GenerateRequest(model="m", n=4), None, pictures=4).format == "png"
