"""POST/GET/DELETE /keys: API keys as an admin sees them (never the key, except once at creation)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["infer", "train", "datasets", "models:write", "admin"]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique name to list and revoke the key by.", examples=["ci"],
                      pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    scopes: list[Scope] = Field(min_length=1, description="What the key may do: infer (generate, translate, upscale, "
                                "evaluate), train, datasets, models:write, admin (everything, every owner's jobs).",
                                examples=[["infer", "train"]])
    owner: str | None = Field(None, max_length=64, description="Who owns the jobs, datasets and models the key "
                              "creates; keys with one owner share them. Default: the name.", examples=["team-a"])
    rate: str | None = Field(None, max_length=100, description="Requests allowed, in `limits` notation with ';' "
                             "between windows, or 'unlimited'. Default: the service's GANFORGE_DEFAULT_RATE.",
                             examples=["20/second;600/minute"])


class KeyInfo(BaseModel):
    name: str = Field(description="The key's name.", examples=["ci"])
    owner: str = Field(description="Owner of what the key creates.", examples=["ci"])
    scopes: list[str] = Field(description="What the key may do.", examples=[["infer", "train"]])
    rate: str | None = Field(description="Its rate limit; null: the service's default.", examples=["20/second"])
    created_at: str = Field(description="When it was created (UTC).", examples=["2026-11-23T06:09:52+00:00"])


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown only in this answer, stored only as a hash.",
                     examples=["gfk_Jx3…"])


class KeyList(BaseModel):
    keys: list[KeyInfo] = Field(description="Every key, by name.",
                                examples=[[{"name": "ci", "owner": "ci", "scopes": ["infer"], "rate": None,
                                            "created_at": "2026-11-23T06:09:52+00:00"}]])
