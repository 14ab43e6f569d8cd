"""Who the endpoints answer: loopback peers, or anyone presenting the token."""

import pytest

from refscope.integrations.security import AccessPolicy, is_loopback

TOKEN = "s3cret-token-of-enough-length"


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "[::1]",
                                  "::ffff:127.0.0.1", "  127.0.0.1 "])
def test_loopback_addresses_are_recognised(peer):
    assert is_loopback(peer)


@pytest.mark.parametrize("peer", ["10.0.0.1", "192.168.1.2", "203.0.113.9", "::ffff:10.0.0.1",
                                  "fe80::1%eth0", "2001:db8::1", "", None, "localhost",
                                  "not an address", "127.0.0.1, 10.0.0.1"])
def test_other_or_unknown_peers_are_not_loopback(peer):
    assert not is_loopback(peer)


def test_without_a_token_only_loopback_is_served():
    policy = AccessPolicy()
    assert policy.check("127.0.0.1", None, None) is None
    assert "loopback" in policy.check("198.51.100.7", f"Bearer {TOKEN}", None)


def test_with_a_token_every_peer_must_present_it():
    policy = AccessPolicy(TOKEN)
    assert policy.check("127.0.0.1", None, None) is not None
    assert policy.check("198.51.100.7", f"Bearer {TOKEN}", None) is None
    assert policy.check("198.51.100.7", f"bearer   {TOKEN}  ", None) is None
    assert policy.check("198.51.100.7", None, TOKEN) is None
    assert policy.check("198.51.100.7", f"Basic {TOKEN}", None) is not None
    assert policy.check("198.51.100.7", f"Bearer {TOKEN[:-1]}", None) is not None
    assert policy.check("198.51.100.7", None, TOKEN + "x") is not None
    assert policy.check("198.51.100.7", None, "ünïcode") is not None


def test_short_or_non_string_tokens_are_refused_at_configuration():
    with pytest.raises(ValueError, match="16 characters"):
        AccessPolicy("short")
    with pytest.raises(TypeError, match="token must be a str"):
        AccessPolicy(b"bytes-token-long-enough")


def test_hostile_type_names_are_escaped_in_every_page():
    import gc
    import json

    from refscope.integrations.render import Endpoints, Request
    from refscope.monitor import Monitor

    hostile = type("<script>alert('x')</script>", (), {})
    monitor = Monitor(max_overhead=None)
    endpoints = Endpoints(monitor=monitor)
    gc.disable()
    obj = hostile()
    obj.me = obj
    del obj
    collect_page = endpoints.handle(Request("collect", "GET", {"format": "html"}, "127.0.0.1"))
    cycles_page = endpoints.handle(Request("cycles", "GET", {"format": "html"}, "127.0.0.1"))
    as_json = endpoints.handle(Request("collect", "GET", {"format": "json"}, "127.0.0.1"))
    for page in (collect_page, cycles_page):
        assert page.status == 200
        assert b"<script>alert(" not in page.body
    assert b"&lt;script&gt;alert(" in cycles_page.body
    json.loads(as_json.body)  # valid JSON whatever the names
