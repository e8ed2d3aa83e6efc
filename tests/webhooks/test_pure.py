"""Pure parts of webhooks: retry schedule, Retry-After, SSRF rules, secrets and signatures."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from qualityapi.config import Settings
from qualityapi.webhooks import signing, ssrf
from qualityapi.webhooks.retry import JITTER, MAX_RETRY_AFTER, next_delay, parse_retry_after

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DELAYS = [5.0, 30.0, 120.0]


@pytest.mark.parametrize(
    ("failed", "base"),
    [(1, 5.0), (2, 30.0), (3, 120.0), (4, None), (0, None)],
)
def test_next_delay_follows_the_schedule_with_jitter(failed: int, base: float | None) -> None:
    rand = random.Random(7)
    got = [next_delay(failed, DELAYS, rand=rand) for _ in range(200)]
    if base is None:
        assert got == [None] * 200
        return
    seconds = [g.total_seconds() for g in got if g is not None]
    assert min(seconds) >= base * (1 - JITTER)
    assert max(seconds) <= base * (1 + JITTER)
    assert len(set(seconds)) > 100  # jittered, not one fixed value


def test_default_schedule_spans_about_three_days() -> None:
    span = sum(Settings().webhook_retry_delays)
    assert timedelta(days=2.5) < timedelta(seconds=span) < timedelta(days=3.5)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", timedelta(seconds=7)),
        (" 0 ", timedelta(0)),
        ("Sat, 21 Nov 2026 12:00:30 GMT", timedelta(seconds=30)),
        ("Sat, 21 Nov 2026 11:00:00 GMT", timedelta(0)),  # in the past: at once
        ("999999999", MAX_RETRY_AFTER),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_http_date(header: str | None, expected: object) -> None:
    assert parse_retry_after(header, NOW) == expected


ALLOWED = ssrf.networks(["10.20.0.0/16"])


@pytest.mark.parametrize(
    ("address", "refused_because"),
    [
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private or reserved"),  # carrier-grade NAT
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "private or reserved"),
        ("169.254.169.254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("10.20.3.4", None),  # inside QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS
        ("10.21.3.4", "private"),
    ],
)
def test_ssrf_refuses_every_non_public_address(address: str, refused_because: str | None) -> None:
    why = ssrf.refusal(ipaddress.ip_address(address), ALLOWED)
    if refused_because is None:
        assert why is None
    else:
        assert why is not None and refused_because in why


def test_metadata_stays_refused_even_inside_an_allowed_network() -> None:
    why = ssrf.refusal(ipaddress.ip_address("169.254.169.254"), ssrf.networks(["169.254.0.0/16"]))
    assert why is not None and "metadata" in why


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "http:///nohost", "http://user:pw@example.com/", "http://x:99999/"],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ssrf.UrlRefused):
        ssrf.parse(url)


class FixedResolver(ssrf.Resolver):
    def __init__(self, answers: list[str]) -> None:
        super().__init__()
        self.answers = [ipaddress.ip_address(a) for a in answers]

    async def resolve(self, host: str, port: int) -> list[ssrf.IpAddress]:
        return self.answers


async def test_a_host_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(ssrf.UrlRefused, match="private"):
        await ssrf.check(
            "https://hooks.example.com/x", FixedResolver(["93.184.216.34", "10.0.0.7"]), ()
        )


async def test_the_checked_address_is_the_one_connected_to() -> None:
    target = await ssrf.check(
        "https://hooks.example.com:8443/in?x=1", FixedResolver(["93.184.216.34"]), ()
    )
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header == "hooks.example.com:8443"
    assert target.sni_hostname == "hooks.example.com"
    v6 = await ssrf.check("http://hooks.example.com/", FixedResolver(["2606:2800::1"]), ())
    assert v6.url == "http://[2606:2800::1]/" and v6.sni_hostname is None


def test_secrets_are_whsec_base64_of_enough_random_bytes() -> None:
    made = {signing.new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(signing.is_valid_secret(s) for s in made)
    assert not signing.is_valid_secret("whsec_" + "QUJD")  # 3 bytes
    assert not signing.is_valid_secret("secret_" + next(iter(made))[6:])


def test_signatures_verify_with_the_public_package_for_each_secret_during_rotation() -> None:
    new, old, stranger = signing.new_secret(), signing.new_secret(), signing.new_secret()
    body = '{"type":"sla.breached","timestamp":"2026-11-21T12:00:00Z","data":{}}'
    now = datetime.now(UTC)
    headers = signing.headers([new, old], message_id="msg_1", timestamp=now, body=body)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers) == {
        "type": "sla.breached",
        "timestamp": "2026-11-21T12:00:00Z",
        "data": {},
    }
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("breached", "warning"), headers)
