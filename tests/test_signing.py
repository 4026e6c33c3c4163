"""The workers' shared secret and the signature on every event between them
(``wslab.signing``), where ``python -m wslab serve`` takes the secret from, and Redis addresses
shown without their passwords (``wslab.redis_server.safe_url``).

The forgeries published into a real Redis are in ``test_broker.py`` (two servers in this
process) and ``test_scale_out.py`` (real worker processes).
"""

from __future__ import annotations

import argparse
import hmac

import pytest

from wslab import signing
from wslab.__main__ import broker_secret, build_parser
from wslab.events import encode_event
from wslab.redis_server import access_options, safe_url
from wslab.signing import (BAD_SIGNATURE, MIN_SECRET_CHARS, SECRET_ENV, UNSIGNED, EventSigner,
                           new_secret)

SECRET = new_secret()
EVENT = encode_event({"v": 1, "worker": "w1", "seq": 1, "kind": "chat", "text": "héllo"})


def test_a_signed_event_opens_to_exactly_what_was_signed():
    signer = EventSigner(SECRET, "wslab:chat")
    message = signer.sign(EVENT)
    assert message.endswith("." + EVENT) and len(message) == 65 + len(EVENT)
    assert signer.open(message.encode()) == (EVENT.encode(), "")


@pytest.mark.parametrize("message, why", [
    (EVENT, UNSIGNED),
    ("", UNSIGNED),
    ("0" * 64, UNSIGNED),
    ("0" * 64 + "." + EVENT, BAD_SIGNATURE),
    (EventSigner(new_secret(), "wslab:chat").sign(EVENT), BAD_SIGNATURE),  # another secret
    (EventSigner(SECRET, "another:room").sign(EVENT), BAD_SIGNATURE),  # another room's event
    (EventSigner(SECRET, "wslab:chat").sign(EVENT).replace("héllo", "hello"), BAD_SIGNATURE),
    (EventSigner(SECRET, "wslab:chat").sign(EVENT).upper(), BAD_SIGNATURE),
])
def test_anything_not_signed_with_the_rooms_secret_is_refused_unread(message, why):
    assert EventSigner(SECRET, "wslab:chat").open(message.encode()) == (None, why)


def test_signatures_are_compared_in_constant_time(monkeypatch):
    compared = []
    compare_digest = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    signer = EventSigner(SECRET, "wslab:chat")
    assert signer.open(signer.sign(EVENT).encode())[0] is not None
    assert len(compared) == 1


def test_a_short_secret_is_refused_with_how_to_make_a_good_one():
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_CHARS} characters.*token_urlsafe"):
        EventSigner("x" * (MIN_SECRET_CHARS - 1), "wslab:chat")
    assert len(new_secret()) >= MIN_SECRET_CHARS and new_secret() != new_secret()


# -- where serve takes the secret from ----------------------------------------------------------


def serve_args(*args: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", "--broker", "redis://127.0.0.1:6379/0", *args])


def test_the_flag_comes_before_the_environment(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "from-the-environment-1234")
    assert broker_secret(serve_args("--broker-secret", SECRET)) == (SECRET, "from --broker-secret")
    assert broker_secret(serve_args()) == ("from-the-environment-1234", f"from ${SECRET_ENV}")


def test_workers_on_one_port_share_a_secret_made_up_for_the_run(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    secret, note = broker_secret(serve_args("--workers", "2"))
    assert len(secret) >= MIN_SECRET_CHARS and note.startswith("made up for this run")
    assert broker_secret(serve_args("--workers", "2"))[0] != secret


def test_a_lone_server_without_a_secret_or_with_a_short_one_is_refused(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ValueError, match=f"set the environment variable {SECRET_ENV}"):
        broker_secret(serve_args())
    with pytest.raises(ValueError, match="at least 16 characters"):
        broker_secret(serve_args("--broker-secret", "short"))


# -- passwords stay out of sight ----------------------------------------------------------------


@pytest.mark.parametrize("url, shown", [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:hunter2@10.0.0.1:6379/0", "redis://***@10.0.0.1:6379/0"),
    ("redis://chat:hunter2@10.0.0.1:6379/0", "redis://***@10.0.0.1:6379/0"),
    ("redis://:hun@ter2@10.0.0.1:6379/0", "redis://***@10.0.0.1:6379/0"),  # an @ in it
    ("rediss://chat:hunter2@redis.example:6380", "rediss://***@redis.example:6380"),
    ("redis://10.0.0.1/0?password=hunter2&db=1", "redis://10.0.0.1/0?password=***&db=1"),
    ("unix:///run/redis.sock?username=chat&password=hunter2",
     "unix:///run/redis.sock?username=***&password=***"),
])
def test_a_redis_address_is_shown_without_who_connects(url, shown):
    assert safe_url(url) == shown


def test_redis_server_options_for_a_password_or_a_user_of_its_own():
    assert access_options(None) == ()
    assert access_options("pw") == ("--requirepass", "pw")
    assert access_options("pw", "chat") == ("--user", "default", "off", "--user", "chat", "on",
                                            ">pw", "~*", "&*", "+@all")
    with pytest.raises(ValueError):
        access_options(None, "chat")
