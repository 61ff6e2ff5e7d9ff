from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erralert._grouping.fingerprint import (
    exception_fingerprint,
    message_fingerprint,
    normalise_message,
)

STDLIB = os.path.dirname(os.__file__)


def _catch(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def _load_user(user_id: int) -> None:
    raise LookupError(f"user {user_id} not found (request 5f1e9b2c-3d4a-4b5c-8d6e-7f8091a2b3c4)")


def _load_order(order_id: int) -> None:
    raise LookupError(f"order {order_id} not found")


def _handler(load: Callable[[int], None], ident: int) -> None:
    load(ident)


def _module_from_source(source: str, filename: str, name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_fingerprint_is_hex_digest() -> None:
    fp = exception_fingerprint(_catch(lambda: _load_user(1)))
    assert re.fullmatch(r"[0-9a-f]{32}", fp)


def test_different_call_sites_differ() -> None:
    user = _catch(lambda: _handler(_load_user, 1))
    order = _catch(lambda: _handler(_load_order, 1))
    assert type(user) is type(order)
    assert exception_fingerprint(user) != exception_fingerprint(order)


def test_same_call_site_with_different_ids_is_equal() -> None:
    first = _catch(lambda: _handler(_load_user, 1))
    second = _catch(lambda: _handler(_load_user, 987654))
    assert str(first) != str(second)
    assert exception_fingerprint(first) == exception_fingerprint(second)


def test_different_types_at_the_same_site_differ() -> None:
    def fail(exc: BaseException) -> None:
        raise exc

    assert exception_fingerprint(_catch(lambda: fail(ValueError()))) != exception_fingerprint(
        _catch(lambda: fail(TypeError()))
    )


SOURCE = textwrap.dedent(
    """
    def parse(value):
        return int(value)

    def handle(value):
        return parse(value)
    """
)


def test_shifted_source_lines_keep_the_fingerprint() -> None:
    before = _module_from_source(SOURCE, "/srv/app/parsing.py", "app.parsing")
    after = _module_from_source(
        "\n\n\n# a new comment\n" + SOURCE, "/srv/app/parsing.py", "app.parsing"
    )
    exc_before = _catch(lambda: before["handle"]("x"))
    exc_after = _catch(lambda: after["handle"]("y"))
    assert exc_before.__traceback__ is not None
    assert exc_after.__traceback__ is not None
    last_before, last_after = exc_before.__traceback__, exc_after.__traceback__
    while last_before.tb_next is not None and last_after.tb_next is not None:
        last_before, last_after = last_before.tb_next, last_after.tb_next
    assert last_before.tb_lineno != last_after.tb_lineno  # the lines did move
    assert exception_fingerprint(exc_before) == exception_fingerprint(exc_after)


def test_module_name_is_part_of_the_key() -> None:
    one = _module_from_source(SOURCE, "/srv/app/parsing.py", "app.parsing")
    two = _module_from_source(SOURCE, "/srv/app/parsing.py", "app.other")
    assert exception_fingerprint(_catch(lambda: one["handle"]("x"))) != exception_fingerprint(
        _catch(lambda: two["handle"]("x"))
    )


LIBRARY_SOURCE = textwrap.dedent(
    """
    def run(fn):
        try:
            fn()
        except Exception as exc:
            return exc

    def decode_{n}():
        raise ValueError("bad")
    """
)


def test_library_only_traceback_uses_all_frames() -> None:
    # a traceback without any in-app frame still groups by where it failed
    mods = [
        _module_from_source(
            LIBRARY_SOURCE.format(n=n), os.path.join(STDLIB, f"fake_lib{n}.py"), f"fake_lib{n}"
        )
        for n in (1, 2)
    ]
    first = mods[0]["run"](mods[0]["decode_1"])
    again = mods[0]["run"](mods[0]["decode_1"])
    second = mods[1]["run"](mods[1]["decode_2"])
    assert exception_fingerprint(first) == exception_fingerprint(again)
    assert exception_fingerprint(first) != exception_fingerprint(second)


def test_library_frames_do_not_matter_when_app_frames_exist() -> None:
    # the same app function failing in json's decoder at different depths is one error
    def decode(text: str) -> object:
        return json.loads(text)

    assert exception_fingerprint(_catch(lambda: decode("{"))) == exception_fingerprint(
        _catch(lambda: decode('{"a": [1, 2, }'))
    )


def _raise_from(cause: BaseException) -> None:
    raise RuntimeError("wrapped") from cause


def test_cause_chain_is_part_of_the_key() -> None:
    by_value = _catch(lambda: _raise_from(_catch(lambda: _load_user(1))))
    by_type = _catch(lambda: _raise_from(TypeError("x")))
    by_value_again = _catch(lambda: _raise_from(_catch(lambda: _load_user(2))))
    assert exception_fingerprint(by_value) != exception_fingerprint(by_type)
    assert exception_fingerprint(by_value) == exception_fingerprint(by_value_again)


def test_implicit_context_is_not_part_of_the_key() -> None:
    def during(first: BaseException) -> None:
        try:
            raise first
        except BaseException:
            raise RuntimeError("second")  # noqa: B904 - the implicit context is the point

    a = _catch(lambda: during(ValueError()))
    b = _catch(lambda: during(KeyError()))
    assert a.__context__ is not None
    assert b.__context__ is not None
    assert exception_fingerprint(a) == exception_fingerprint(b)


def test_cyclic_and_long_cause_chains_terminate() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__cause__, b.__cause__ = b, a
    assert re.fullmatch(r"[0-9a-f]{32}", exception_fingerprint(a))

    chain: list[BaseException] = [ValueError(str(i)) for i in range(50)]
    for newer, older in itertools.pairwise(chain):
        newer.__cause__ = older
    chain[-1].__cause__ = TypeError()  # beyond the tenth: ignored
    other: list[BaseException] = [ValueError(str(i)) for i in range(50)]
    for newer, older in itertools.pairwise(other):
        newer.__cause__ = older
    assert exception_fingerprint(chain[0]) == exception_fingerprint(other[0])


def test_unraised_exception_is_its_type() -> None:
    assert exception_fingerprint(ValueError("a")) == exception_fingerprint(ValueError("b"))
    assert exception_fingerprint(ValueError()) != exception_fingerprint(TypeError())


def test_weird_exception_classes() -> None:
    dynamic = type("Dynamic", (Exception,), {"__module__": None})
    assert re.fullmatch(r"[0-9a-f]{32}", exception_fingerprint(dynamic()))
    shadowed = type("Shadowed", (Exception,), {"__module__": "\udcff"})
    assert re.fullmatch(r"[0-9a-f]{32}", exception_fingerprint(shadowed()))


@pytest.mark.e2e
def test_stable_across_processes(tmp_path: Path) -> None:
    script = tmp_path / "app_script.py"
    script.write_text(
        textwrap.dedent(
            """
            from erralert._grouping.fingerprint import exception_fingerprint, message_fingerprint

            class PaymentDeclined(Exception):
                pass

            def charge():
                raise PaymentDeclined("card 4242")

            try:
                charge()
            except PaymentDeclined as exc:
                print(exception_fingerprint(exc), message_fingerprint("order 17 failed", "app"))
            """
        )
    )
    outputs = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user 42 not found", "user <n> not found"),
        ("took 3.25s", "took <n>s"),
        ("retry -1 of 10", "retry -<n> of <n>"),
        ("1e10 rows", "<n> rows"),
        (
            "request 5f1e9b2c-3d4a-4b5c-8d6e-7F8091A2B3C4 failed",
            "request <uuid> failed",
        ),
        ("at 2024-05-06T07:08:09.123+02:00 and 2024-05-06", "at <timestamp> and <timestamp>"),
        ("at 2024-05-06 07:08:09Z", "at <timestamp>"),
        ("object at 0x7f3a2b1c", "object at <hex>"),
        ("commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", "commit <hex>"),
        ("token abcdef12 expired", "token <hex> expired"),
        ("mail to bob.smith+x@example.co.uk bounced", "mail to <email> bounced"),
        ("connect 10.0.0.12:5432 refused", "connect <ip>:<n> refused"),
        # words stay words
        ("deadbeef is not hex with a digit", "deadbeef is not hex with a digit"),
        ("utf8 sha256 ipv6 user42 v2", "utf8 sha256 ipv6 user42 v2"),
        ("KeyError: 'email'", "KeyError: 'email'"),
        ("Connection reset by peer", "Connection reset by peer"),
        ("", ""),
    ],
)
def test_normalise_message(text: str, expected: str) -> None:
    assert normalise_message(text) == expected


def test_message_fingerprint() -> None:
    a = message_fingerprint("payment 123 failed after 2.5s", "billing")
    b = message_fingerprint("payment 98765 failed after 10.0s", "billing")
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{32}", a)
    assert message_fingerprint("payment 1 failed", "billing") != message_fingerprint(
        "payment 1 failed", "shipping"
    )
    assert message_fingerprint("payment 1 failed") != message_fingerprint("refund 1 failed")
    # the level is not part of the key: a warning that becomes an error stays one group
    assert message_fingerprint("x 1", "l", "warning") == message_fingerprint("x 2", "l", "error")
    # a message never collides with the key of an exception
    assert message_fingerprint("ValueError") != exception_fingerprint(ValueError())


def _recurse(depth: int) -> None:
    if depth <= 1:
        raise ValueError("bottom")
    _recurse(depth - 1)


def _ping(depth: int) -> None:
    if depth <= 1:
        raise ValueError("bottom")
    _pong(depth - 1)


def _pong(depth: int) -> None:
    _ping(depth - 1)


@pytest.mark.parametrize("recursive", [_recurse, _ping])
def test_recursion_depth_does_not_change_the_key(recursive: Callable[[int], None]) -> None:
    keys = {exception_fingerprint(_catch(lambda d=d: recursive(d))) for d in (3, 4, 20, 51)}
    assert len(keys) == 1
    assert exception_fingerprint(_catch(lambda: _recurse(5))) != exception_fingerprint(
        _catch(lambda: _ping(5))
    )
