"""The routing table's size rule: large translations and upscales wait in their own queue."""

import pytest

from service.core.routing import (
    HEAVY_INFERENCE_QUEUE,
    INFERENCE_QUEUE,
    TRAINING_QUEUE,
    route_by_size,
    route_of,
)

HEAVY = 2048 * 2048


@pytest.mark.parametrize("kind", ["upscale", "translate"])
def test_images_at_or_past_the_bound_go_to_the_heavy_queue(kind):
    assert route_by_size(kind, HEAVY - 1, HEAVY).queue == INFERENCE_QUEUE
    assert route_by_size(kind, HEAVY, HEAVY).queue == HEAVY_INFERENCE_QUEUE
    assert route_by_size(kind, HEAVY, HEAVY).task == route_of(kind).task  # same task, another line


@pytest.mark.parametrize(("kind", "queue"), [("generate", INFERENCE_QUEUE), ("train", TRAINING_QUEUE)])
def test_kinds_not_sized_by_their_image_keep_their_queue(kind, queue):
    assert route_by_size(kind, 10**9, HEAVY).queue == queue
