"""Getters and setters for plain mappings, ASGI scopes and WSGI environs."""

from __future__ import annotations

from obskit.propagation import asgi_getter, asgi_setter, mapping_getter, mapping_setter, wsgi_getter


def test_mapping_getter_exact_lower_case() -> None:
    """A lower-case key is found directly."""
    assert mapping_getter({"traceparent": "a"}, "traceparent") == ["a"]


def test_mapping_getter_matches_any_case() -> None:
    """A mixed-case header name is found by the lower-case key."""
    assert mapping_getter({"TraceParent": "a"}, "traceparent") == ["a"]


def test_mapping_getter_absent_is_empty_list() -> None:
    """An absent header gives an empty list."""
    assert mapping_getter({"host": "x"}, "traceparent") == []


def test_mapping_getter_list_values_are_several_lines() -> None:
    """A list value (multiValueHeaders) gives one value per line."""
    assert mapping_getter({"tracestate": ["a=1", "b=2"]}, "tracestate") == ["a=1", "b=2"]


def test_mapping_getter_two_spellings_are_two_lines() -> None:
    """Two spellings of one name in a dict count as two header lines."""
    assert sorted(mapping_getter({"traceparent": "a", "Traceparent": "b"}, "traceparent")) == ["a", "b"]


def test_mapping_getter_decodes_bytes() -> None:
    """Bytes names and values are decoded as latin-1."""
    assert mapping_getter({b"Baggage": b"k=v"}, "baggage") == ["k=v"]


def test_asgi_getter_reads_scope_and_list() -> None:
    """Both an ASGI scope and its header list are accepted."""
    headers = [(b"traceparent", b"a"), (b"host", b"h"), (b"TraceParent", b"b")]
    assert asgi_getter({"type": "http", "headers": headers}, "traceparent") == ["a", "b"]
    assert asgi_getter(headers, "host") == ["h"]


def test_asgi_getter_ignores_malformed_items() -> None:
    """Items that are not (bytes, bytes) pairs are skipped."""
    assert asgi_getter([(b"a",), None, (b"baggage", b"k=v")], "baggage") == ["k=v"]


def test_wsgi_getter_reads_http_variables() -> None:
    """A WSGI environ is read through its HTTP_ variables."""
    environ = {"HTTP_X_AMZN_TRACE_ID": "Root=x", "REQUEST_METHOD": "GET"}
    assert wsgi_getter(environ, "x-amzn-trace-id") == ["Root=x"]
    assert wsgi_getter(environ, "traceparent") == []


def test_mapping_setter_replaces_other_spellings() -> None:
    """Writing a header removes differently-cased copies of it."""
    carrier = {"X-Amzn-Trace-Id": "old", "Host": "h"}
    mapping_setter(carrier, "x-amzn-trace-id", "new")
    assert carrier == {"Host": "h", "x-amzn-trace-id": "new"}


def test_asgi_setter_appends_and_replaces() -> None:
    """The ASGI setter writes bytes pairs and never leaves two lines of one header."""
    headers: list[tuple[bytes, bytes]] = [(b"traceparent", b"old"), (b"content-type", b"text/plain")]
    asgi_setter(headers, "traceparent", "new")
    assert headers == [(b"content-type", b"text/plain"), (b"traceparent", b"new")]


def test_asgi_setter_on_message_dict() -> None:
    """The ASGI setter also writes into a response-start message."""
    message: dict[str, object] = {"type": "http.response.start", "status": 200}
    asgi_setter(message, "x-correlation-id", "c")
    assert message["headers"] == [(b"x-correlation-id", b"c")]


def test_bulk_mapping_finds_headers_after_many_distinct_names() -> None:
    """Thousands of distinct header names (the name memo starts over) never hide a wanted header."""
    from obskit.propagation._carriers import _bulk_mapping

    wanted = frozenset({"traceparent", "baggage"})
    noise = {f"X-Noise-{i}": "v" for i in range(3000)}
    for _ in range(2):
        got = _bulk_mapping({**noise, "TraceParent": "tp", "baggage": "k=v"}, wanted)
        assert got == {"traceparent": ["tp"], "baggage": ["k=v"]}


def test_bulk_mapping_reads_str_subclass_and_bytes_names() -> None:
    """Header names that are str subclasses or bytes are matched like plain strings."""
    from obskit.propagation._carriers import _bulk_mapping

    class Name(str):
        """A str subclass, as some frameworks use for header names."""

    got = _bulk_mapping({Name("Baggage"): "k=v", b"TRACEPARENT": "tp", 7: "x"}, frozenset({"traceparent", "baggage"}))
    assert got == {"baggage": ["k=v"], "traceparent": ["tp"]}


def test_bulk_asgi_reads_any_spelling_and_type_of_name_every_time() -> None:
    """Lower-case bytes (what servers send), other spellings, bytearray and str names; odd items skipped.

    The verdict for each raw name is remembered, so the second pass must give the same answer.
    """
    from obskit.propagation._carriers import _bulk_asgi

    class Name(str):
        """A str subclass (not remembered: only exact bytes and str are)."""

    headers = [
        (b"traceparent", b"tp"), (b"Baggage", b"k=v"), (bytearray(b"X-Amzn-Trace-Id"), bytearray(b"Root=1")),
        ("x-correlation-id", "c-1"), (Name("BAGGAGE"), "k2=v2"), (b"accept", b"*/*"), (b"x",), 5, ([1], b"v"),
        (b"traceparent", 7),
    ]
    wanted = frozenset({"traceparent", "baggage", "x-amzn-trace-id", "x-correlation-id"})
    expected = {
        "traceparent": ["tp"], "baggage": ["k=v", "k2=v2"], "x-amzn-trace-id": ["Root=1"], "x-correlation-id": ["c-1"],
    }
    assert _bulk_asgi({"headers": headers}, wanted) == expected
    assert _bulk_asgi(headers, wanted) == expected
