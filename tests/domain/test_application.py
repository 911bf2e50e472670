import pytest
from pydantic import ValidationError

from domain.application import validate_uscc
from domain.coverage import CoverageHead
from domain.money import Money
from tests.builders import VALID_USCC, application, organisation
from domain.application import CoverageRequest


def test_a_published_credit_code_passes_its_check_character():
    assert validate_uscc(VALID_USCC.lower()) == VALID_USCC


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y44", "check character"),
        ("91350100M000100YI3", "outside GB 32100"),
    ],
)
def test_a_bad_credit_code_is_refused_with_the_reason(code, problem):
    with pytest.raises(ValueError, match=problem):
        validate_uscc(code)


def test_an_application_with_a_bad_credit_code_names_the_field():
    with pytest.raises(ValidationError) as err:
        organisation(unified_social_credit_code="91350100M000100Y44")
    assert err.value.errors()[0]["loc"] == ("unified_social_credit_code",)


def test_a_head_requested_twice_is_refused():
    twice = [CoverageRequest(head=CoverageHead.LEGAL_COSTS, limit=Money.yuan(10))] * 2
    with pytest.raises(ValidationError, match="requested twice: legal_costs"):
        application(coverages=twice)


def test_a_sublimit_above_the_aggregate_is_refused():
    big = [CoverageRequest(head=CoverageHead.LEGAL_COSTS, limit=Money.yuan(6_000_000))]
    with pytest.raises(ValidationError, match="above the aggregate limit: legal_costs"):
        application(coverages=big)


def test_a_zero_limit_is_refused():
    with pytest.raises(ValidationError, match="above zero"):
        CoverageRequest(head=CoverageHead.LEGAL_COSTS, limit=Money(fen=0))


def test_money_is_never_negative_and_never_a_float():
    with pytest.raises(ValidationError):
        Money(fen=-1)
    with pytest.raises(ValidationError):
        Money(fen=1.5)
