"""API keys: who may call the service, with which scopes, at which rate.

A key is 256 random bits (`gfk_` + URL-safe base64), shown once when it is created. Redis keeps
only its SHA-256 (a key has far too much entropy to guess, so a fast hash is enough) beside the
record {name, owner, scopes, rate, created_at}; `keys.API_KEY_NAMES` maps names to hashes so an
admin can list and revoke keys by name.

The API (POST/GET/DELETE /keys) and the command line share this module:

    python -m service.core.api_keys create --name ci --scopes infer,train [--owner team-a] [--rate 20/second]
    python -m service.core.api_keys list
    python -m service.core.api_keys revoke ci

The command line talks to the Redis that GANFORGE_REDIS_URL names.
"""

import argparse
import hashlib
import json
import re
import secrets
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis
from limits import parse_many

from service.core import keys
from service.core.redis_clients import sync_client

SCOPES = ("infer", "train", "datasets", "models:write", "metrics", "admin")  # metrics: GET /metrics
UNLIMITED = "unlimited"
KEY_PREFIX = "gfk_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Claims the name and writes the record in one step, so two creations of one name can't both win.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""


class KeyExists(ValueError):
    pass


class InvalidKeySpec(ValueError):
    """A name, scope or rate that can't be used; `field` says which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ApiKey:
    name: str
    owner: str
    scopes: tuple[str, ...]
    rate: str | None = None  # None: the service's default rate; "unlimited": none
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or self.is_admin

    def to_json(self) -> dict:
        return {**asdict(self), "scopes": list(self.scopes)}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def check_spec(name: str, scopes: list[str], rate: str | None) -> None:
    if not NAME.match(name):
        raise InvalidKeySpec("name", "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise InvalidKeySpec("scopes", f"give one or more of {', '.join(SCOPES)}"
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    if rate is not None and rate != UNLIMITED:
        try:  # the limiter's own parser: what it accepts is what it enforces
            parse_many(rate)
        except ValueError:
            raise InvalidKeySpec("rate", f"{rate!r} is not a rate such as '20/second' or '20/second;600/minute'") from None


class ApiKeyStore:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._create = client.register_script(_CREATE)

    def create(self, name: str, scopes: list[str], *, owner: str | None = None, rate: str | None = None,
               key: str | None = None) -> tuple[str, ApiKey]:
        """A new key (or `key`, when the caller brings its own secret); answers (key, record)."""
        scopes = list(dict.fromkeys(scopes))
        check_spec(name, scopes, rate)
        key = key or new_key()
        record = ApiKey(name=name, owner=owner or name, scopes=tuple(scopes), rate=rate)
        if not self._create(keys=[keys.API_KEY_NAMES, keys.api_key(digest(key))],
                            args=[name, digest(key), json.dumps(record.to_json())]):
            raise KeyExists(f"a key named {name!r} exists; revoke it first")
        return key, record

    def ensure(self, key: str, name: str, scopes: list[str], *, rate: str | None = None) -> ApiKey:
        """Register `key` under `name` unless it already is: for keys kept outside Redis (the local
        admin key under the state folder, GANFORGE_ADMIN_KEY)."""
        found = self.authenticate(key)
        if found is not None:
            return found
        self.revoke(name)  # the name held another key (a state folder reset): the new one wins
        return self.create(name, scopes, rate=rate, key=key)[1]

    def authenticate(self, key: str) -> ApiKey | None:
        raw = self.redis.get(keys.api_key(digest(key)))
        return _record(raw) if raw else None

    async def authenticate_on(self, client: "redis.asyncio.Redis", key: str) -> ApiKey | None:
        """`authenticate` through an asyncio client (the API's event loop's: no thread)."""
        raw = await client.get(keys.api_key(digest(key)))
        return _record(raw) if raw else None

    def records(self) -> list[ApiKey]:
        hashes = self.redis.hgetall(keys.API_KEY_NAMES)
        if not hashes:
            return []
        raws = self.redis.mget([keys.api_key(h.decode()) for h in hashes.values()])
        return sorted((_record(raw) for raw in raws if raw), key=lambda record: record.name)

    def get(self, name: str) -> ApiKey | None:
        key_hash = self.redis.hget(keys.API_KEY_NAMES, name)
        raw = self.redis.get(keys.api_key(key_hash.decode())) if key_hash else None
        return _record(raw) if raw else None

    def revoke(self, name: str) -> bool:
        key_hash = self.redis.hget(keys.API_KEY_NAMES, name)
        if key_hash is None:
            return False
        pipe = self.redis.pipeline()
        pipe.delete(keys.api_key(key_hash.decode()))
        pipe.hdel(keys.API_KEY_NAMES, name)
        pipe.execute()
        return True

    def count(self) -> int:
        return self.redis.hlen(keys.API_KEY_NAMES)


def _record(raw: bytes) -> ApiKey:
    data = json.loads(raw)
    return ApiKey(**{**data, "scopes": tuple(data["scopes"])})


LOCAL_ADMIN = "local-admin"
LOCAL_ADMIN_FILE = "admin-key"


def local_admin_key(store: ApiKeyStore, state_dir: Path) -> str:
    """The admin key of a local stack: made on first start, kept in `state_dir/admin-key` (0600),
    registered again if Redis lost it. Not rate limited, so benchmarks measure the service."""
    path = Path(state_dir) / LOCAL_ADMIN_FILE
    if path.exists():
        key = path.read_text().strip()
    else:
        key = new_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(key + "\n")
    store.ensure(key, LOCAL_ADMIN, ["admin"], rate=UNLIMITED)
    return key


# -- command line ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from service.core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m service.core.api_keys", description="Manage GANForge API keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help=f"comma list of {', '.join(SCOPES)}")
    create.add_argument("--owner", help="who owns what the key creates (default: the name)")
    create.add_argument("--rate", help=f"e.g. 20/second or 20/second;600/minute, or {UNLIMITED} (default: the service's)")
    commands.add_parser("list", help="names, owners, scopes and rates (never keys)")
    revoke = commands.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    args = parser.parse_args(argv)

    settings = load_settings()
    if not settings.redis_url:
        parser.error("set GANFORGE_REDIS_URL to the service's Redis")
    store = ApiKeyStore(sync_client(settings.redis_url))
    if args.command == "create":
        try:
            key, record = store.create(args.name, [s.strip() for s in args.scopes.split(",") if s.strip()],
                                       owner=args.owner, rate=args.rate)
        except (KeyExists, InvalidKeySpec) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(key)
        print(f"created {record.name} (owner {record.owner}, scopes {','.join(record.scopes)}); "
              "the key is shown only now", file=sys.stderr)
    elif args.command == "list":
        for record in store.records():
            print(f"{record.name}\towner={record.owner}\tscopes={','.join(record.scopes)}\t"
                  f"rate={record.rate or 'default'}\tcreated={record.created_at}")
    elif args.command == "revoke":
        if not store.revoke(args.name):
            print(f"error: no key named {args.name!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
