"""Where a party may ask to be told: webhook URLs cyberins may POST to, e-mail addresses it may write to."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.endpoints import MAX_URL, check_email_address, check_endpoint_url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cyberins",
        "https://hooks.example.com:8443/a/b?c=d",
        "https://203.0.113.7.nip.io/x",
        "https://8.8.8.8/hooks",
        "https://[2606:4700:4700::1111]/hooks",
        "https://例子.测试/hooks",
        "HTTPS://Hooks.Example.com/",
    ],
)
def test_a_public_https_url_is_accepted_as_given(url):
    assert check_endpoint_url(url, http_loopback=False) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("hooks.example.com/x", "absolute"),
        ("/relative/path", "absolute"),
        ("https:///no-host", "absolute"),
        ("https://user:secret@hooks.example.com/x", "user name or password"),
        ("https://user@hooks.example.com/x", "user name or password"),
        ("https://hooks.example.com/x#part", "fragment"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/\x00", "control"),
        ("https://hooks.example.com:99999/", "(?i)port"),
        ("https://hooks.example.com:0/", "port 0"),
        ("https://" + "a" * MAX_URL + ".com/", f"at most {MAX_URL}"),
        ("https://bad_host.example.com/", "domain name"),
        ("https://-leading.example.com/", "domain name"),
    ],
)
def test_a_url_that_is_not_a_public_https_address_is_refused_saying_why(url, reason):
    with pytest.raises(ValueError, match=reason):
        check_endpoint_url(url, http_loopback=False)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("10.0.0.8", "private"),
        ("172.16.4.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a public"),
        ("[fd00::1]", "private"),
        ("[fe80::1]", "link-local"),
        ("[::]", "unspecified"),
        ("[::ffff:10.0.0.1]", "private"),  # an IPv4 address in IPv6 clothing
    ],
)
def test_an_internal_ip_literal_is_refused_naming_its_range(host, kind):
    with pytest.raises(ValueError, match=kind):
        check_endpoint_url(f"https://{host}/hooks", http_loopback=False)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "0177.0.0.1"])
def test_an_address_written_other_than_in_four_decimals_is_refused(host):
    with pytest.raises(ValueError, match="four decimal numbers"):
        check_endpoint_url(f"https://{host}/", http_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]:9000/",
        "https://localhost:8443/",
        "http://127.0.0.2/",
        "http://localhost./",
    ],
)
def test_loopback_is_accepted_over_http_or_https_only_in_development(url):
    assert check_endpoint_url(url, http_loopback=True) == url
    with pytest.raises(ValueError, match="https|development"):
        check_endpoint_url(url, http_loopback=False)


def test_development_allows_http_to_loopback_only():
    with pytest.raises(ValueError, match="https"):
        check_endpoint_url("http://hooks.example.com/", http_loopback=True)
    with pytest.raises(ValueError, match="private"):
        check_endpoint_url("https://192.168.0.10/", http_loopback=True)


@given(st.text(max_size=300))
def test_any_text_is_accepted_or_refused_with_a_value_error(text):
    for loopback in (False, True):
        try:
            assert check_endpoint_url(text, http_loopback=loopback) == text
        except ValueError:
            pass


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("ops@Example.COM", "ops@example.com"),
        ("Security.Team+cyber@corp.example.cn", "Security.Team+cyber@corp.example.cn"),
        ("值班@例子.中国", "值班@例子.中国"),
    ],
)
def test_an_address_keeps_its_name_and_lowers_its_domain(address, kept):
    assert check_email_address(address) == kept


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("no-at-sign.example.com", "exactly one @"),
        ("two@@example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("@example.com", "before the @"),
        ("ops@localhost", "with a dot"),
        ("ops@example.", "with a dot"),
        ("ops@.example.com", "with a dot"),
        ("ops@example..com", "with a dot"),
        ("ops team@example.com", "spaces"),
        ("ops@example.com\n", "control"),
        ("o" * 310 + "@example.com", "at most 320"),
    ],
)
def test_an_address_that_cannot_be_written_to_is_refused_saying_why(address, reason):
    with pytest.raises(ValueError, match=reason):
        check_email_address(address)


def test_at_delivery_a_resolved_address_must_be_public():
    from domain.endpoints import check_delivery_address

    check_delivery_address("8.8.8.8")  # public: no complaint
    for internal in ("127.0.0.1", "::1", "10.0.0.8", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                     "::ffff:10.1.1.1", "100.64.0.1", "0.0.0.0", "fe80::1%eth0"):
        with pytest.raises(ValueError):
            check_delivery_address(internal)
