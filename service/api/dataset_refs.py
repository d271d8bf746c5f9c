"""A request's `dataset` reference resolved to a dataset record, for every router that takes one."""

from typing import Annotated

from fastapi import Depends

from service.api.deps import StateDep
from service.api.errors import unknown_dataset
from service.api.state import ApiState
from training.dataset_store import DatasetRecord, DatasetStore, UnknownDataset


def dataset_store(state: ApiState) -> DatasetStore:
    return DatasetStore.from_settings(state.settings)


def _store_dep(state: StateDep) -> DatasetStore:
    return dataset_store(state)


DatasetsDep = Annotated[DatasetStore, Depends(_store_dep)]


def find_dataset(store: DatasetStore, ref: str) -> DatasetRecord:
    """The record `ref` names, or a 404 problem."""
    try:
        return store.get(ref)
    except UnknownDataset as missing:
        raise unknown_dataset(missing) from None
