"""A request's `dataset` reference resolved to a dataset record, for every router that takes one."""

from typing import Annotated

from fastapi import Depends

from service.api.caller import current_caller
from service.api.deps import StateDep
from service.api.errors import unknown_dataset
from service.api.ownership import dataset_visible
from service.api.state import ApiState
from training.data.store import DatasetRecord, DatasetStore, UnknownDataset


def dataset_store(state: ApiState) -> DatasetStore:
    return DatasetStore.from_settings(state.settings)


def _store_dep(state: StateDep) -> DatasetStore:
    return dataset_store(state)


DatasetsDep = Annotated[DatasetStore, Depends(_store_dep)]


async def find_dataset(state: ApiState, store: DatasetStore, ref: str) -> DatasetRecord:
    """The record `ref` names, or a 404 problem (also for another owner's upload): one small file
    read, and the owner from the event loop's Redis client."""
    try:
        record = store.get(ref)
    except UnknownDataset as missing:
        raise unknown_dataset(missing) from None
    caller = current_caller()
    if caller is None or not await dataset_visible(state, record, caller):
        # the store's own words for a dataset that does not exist, so the answer tells nothing apart
        raise unknown_dataset(UnknownDataset(f"no dataset {ref!r}; built-in: {', '.join(store.builtins)}"))
    return record
