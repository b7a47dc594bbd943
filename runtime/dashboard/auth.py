"""Who may see the dashboard: the password hash (stdlib scrypt with a random salt), login sessions that expire, a
CSRF token per session, and a brake on password guessing.

The hash is what `ergoedge dashboard set-password` prints and what `[dashboard] password_hash` holds:

    scrypt$16384$8$1$<salt, base64>$<key, base64>        (n, r, p: the scrypt cost; 16 MiB and ~50 ms per check)

Pure standard library, no I/O and no clock of its own (times are passed in), so every rule is testable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from edge.errors import InputError

# scrypt cost: RFC 7914's interactive-login recommendation (N = 2^14, r = 8, p = 1): 16 MiB, tens of ms on a Jetson.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32
# A hash read from a config is bounded so that a crafted one cannot make a login take minutes or gigabytes.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16
MIN_PASSWORD_CHARS = 8
_HASH_HELP = "make one with `ergoedge dashboard set-password`"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The storable scrypt hash of `password` (a fresh random salt unless one is given)."""
    check_password(password)
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def check_password(password: str) -> str:
    """An `InputError` unless `password` is a string of at least MIN_PASSWORD_CHARS characters (never shown)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"the dashboard password must have at least {MIN_PASSWORD_CHARS} characters")
    return password


def parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, key) of a stored hash, or an `InputError` that never repeats the value."""
    parts = text.split("$") if isinstance(text, str) else []
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        n, r, p = (int(v) for v in parts[1:4])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        raise InputError(f"dashboard.password_hash is not a password hash ({_HASH_HELP})") from None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P) \
            or len(salt) < 8 or len(key) < 16:
        raise InputError(f"dashboard.password_hash has scrypt settings out of range (n a power of 2 up to "
                         f"{_MAX_N}, r 1..{_MAX_R}, p 1..{_MAX_P}, salt >= 8 bytes): {_HASH_HELP}")
    return n, r, p, salt, key


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (constant-time comparison)."""
    n, r, p, salt, key = parse_hash(stored)
    if not isinstance(password, str) or len(password) > 1024:  # a megabyte "password" is not one
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(key)), key)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = _KEY_BYTES) -> bytes:
    # maxmem: scrypt needs 128 * r * (n + p) bytes; OpenSSL's default limit (32 MiB) would refuse the bounded maximum.
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=128 * r * (n + p) + 2**20)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class Session:
    """One browser's session: its CSRF token, when it ends, and whether it logged in."""

    sid: str
    csrf: str
    expires: float
    authenticated: bool
    address: str


class SessionStore:
    """Sessions by id, each ending `ttl_s` after it was made (never extended: a stolen cookie dies with its shift);
    at most `max_sessions`, the oldest dropped first. Times are monotonic seconds passed in by the caller."""

    def __init__(self, ttl_s: float, max_sessions: int = 256):
        self.ttl_s = float(ttl_s)
        self.max_sessions = int(max_sessions)
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, now: float, authenticated: bool, address: str = "") -> Session:
        self._expire(now)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.ttl_s, authenticated,
                          address)
        self._sessions[session.sid] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, sid: str | None, now: float) -> Session | None:
        """The live session with id `sid`, or None (unknown or expired: an expired one is dropped)."""
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is not None and now >= session.expires:
            del self._sessions[sid]
            return None
        return session

    def drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def _expire(self, now: float) -> None:
        for sid in [s for s, session in self._sessions.items() if now >= session.expires]:
            del self._sessions[sid]

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """Whether `token` is the session's CSRF token (constant-time)."""
    return session is not None and isinstance(token, str) and hmac.compare_digest(session.csrf, token)


class LoginThrottle:
    """After `max_failures` wrong passwords from one address within `window_s`, that address waits `lockout_s`
    (each check costs the attacker a scrypt anyway; this stops a patient script). Bounded to `max_addresses`."""

    def __init__(self, max_failures: int = 5, window_s: float = 60.0, lockout_s: float = 60.0,
                 max_addresses: int = 1024):
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def locked(self, address: str, now: float) -> float:
        """Seconds `address` must still wait (0: it may try)."""
        times = self._failures.get(address, [])
        if len(times) < self.max_failures or times[-1] - times[0] > self.window_s:
            return 0.0
        return max(0.0, times[-1] + self.lockout_s - now)

    def failed(self, address: str, now: float) -> None:
        self._failures[address] = [*self._failures.pop(address, []), now][-self.max_failures:]
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
