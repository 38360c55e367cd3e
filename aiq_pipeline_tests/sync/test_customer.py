from aiq_pipeline.accountsiq.models import Customer
from aiq_pipeline.bunny.models import Account, Contact
from aiq_pipeline.sync.customer import (
    LIMITS,
    apply_customer,
    currency_problem,
    customer_changes,
    customer_problems,
    desired_customer,
    new_customer,
)
from aiq_pipeline.sync.problems import ProblemCode
from aiq_pipeline_tests.sync.builders import ACCOUNT, replace


def template() -> Customer:
    """What GetNewCustomerFromDefaults returns: entity defaults, no identity yet."""
    return Customer(
        code=None,
        name=None,
        default_tax_code="V01",
        row_version_number=None,
        other={"ControlGLAccountCode": "1100", "CreditTermID": "30D"},
    )


def test_desired_customer_maps_every_bunny_field() -> None:
    desired = desired_customer(ACCOUNT, currency_code="eur")
    assert desired.code == "BNY-42"
    assert desired.name == "Acme Widgets Ltd"
    assert desired.currency_code == "EUR"
    assert (desired.address1, desired.address2) == ("Unit 5", "Harbour Park, East Wall Road")
    assert (desired.city, desired.county_state, desired.post_code, desired.country) == (
        "Dublin",
        "Co. Dublin",
        "D03 X2Y4",
        "IE",
    )
    assert (desired.contact, desired.email, desired.phone) == ("Ann Lee", "ann@acme.example", "+353 1 555 0100")
    assert desired.vat_registration_number == "IE1234567T"


def test_code_is_stable_across_renames_and_account_code_edits() -> None:
    renamed = replace(ACCOUNT, name="Acme Group plc", code="ACME-GROUP")
    assert desired_customer(renamed, currency_code="EUR").code == desired_customer(ACCOUNT, currency_code="EUR").code


def test_long_fields_are_truncated_to_aiq_limits_and_long_email_dropped() -> None:
    long = "x" * 80
    account = replace(
        ACCOUNT,
        name="N" * 120,
        billing_street=long + "\n" + long,
        billing_city=long,
        billing_contact=Contact(first_name="A" * 40, last_name="B" * 40, email="e" * 60 + "@x.ie", phone="1" * 60),
    )
    desired = desired_customer(account, currency_code="EUR")
    for field, value in desired.fields().items():
        if value is not None and field in LIMITS:
            assert len(value) <= LIMITS[field], field
    assert desired.name == "N" * 50 and desired.address1 == "x" * 50 and desired.address2 == "x" * 50
    assert desired.email is None  # a cut-off address would be a wrong address


def test_empty_bunny_fields_stay_none() -> None:
    bare = Account(id="7", name="  Bare  Co ")
    desired = desired_customer(bare, currency_code="GBP")
    assert desired.name == "Bare Co"
    assert desired.address1 is None and desired.contact is None and desired.email is None


def test_apply_sets_fields_on_the_defaults_template_and_keeps_the_rest() -> None:
    desired = desired_customer(ACCOUNT, currency_code="EUR")
    before = template()
    applied = apply_customer(before, desired)
    assert isinstance(applied, Customer)
    assert applied.code == "BNY-42" and applied.name == "Acme Widgets Ltd" and applied.currency_code == "EUR"
    assert applied.address2 == "Harbour Park, East Wall Road"
    assert applied.default_tax_code == "V01" and applied.other == before.other
    assert before.code is None  # a copy, not the template mutated


def test_changes_are_empty_once_applied_and_do_not_blank_aiq_data() -> None:
    desired = desired_customer(replace(ACCOUNT, tax_number=None), currency_code="EUR")
    existing = apply_customer(template(), desired)
    existing.vat_registration_number = "IE-FROM-AIQ"
    assert customer_changes(existing, desired) == {}
    moved = desired_customer(replace(ACCOUNT, billing_city="Cork", tax_number=None), currency_code="EUR")
    assert customer_changes(existing, moved) == {"city": "Cork"}


def test_changes_never_touch_an_existing_currency() -> None:
    existing = apply_customer(template(), desired_customer(ACCOUNT, currency_code="EUR"))
    assert "currency_code" not in customer_changes(existing, desired_customer(ACCOUNT, currency_code="GBP"))


def test_currency_problem_when_existing_customer_has_another_currency() -> None:
    existing = Customer(code="BNY-42", name="Acme", currency_code="GBP")
    problem = currency_problem(existing, currency="eur", document="Bunny invoice 1001")
    assert problem is not None and problem.code is ProblemCode.CURRENCY_MISMATCH
    assert "EUR" in problem.message and "GBP" in problem.message and "BNY-42" in problem.message
    assert currency_problem(existing, currency="gbp", document="Bunny invoice 1001") is None
    assert currency_problem(Customer(code="X", name="X"), currency="EUR", document="Bunny invoice 1") is None


def test_customer_problems() -> None:
    assert customer_problems(ACCOUNT, document="Bunny invoice 1") == []
    (missing,) = customer_problems(None, document="Bunny invoice 1001")
    assert missing.code is ProblemCode.MISSING_CUSTOMER_DATA and "1001" in missing.message
    (nameless,) = customer_problems(replace(ACCOUNT, name=" "), document="Bunny invoice 1001")
    assert nameless.code is ProblemCode.MISSING_CUSTOMER_DATA and "42" in nameless.message


def test_a_new_customer_takes_the_invoice_currency_not_the_templates_base_currency() -> None:
    template = Customer(code=None, name=None, currency_code="EUR", row_version_number="7")
    created = new_customer(template, desired_customer(ACCOUNT, currency_code="gbp"))
    assert created.currency_code == "GBP"
    assert created.row_version_number == "7"
    # An existing customer's currency is still never changed by apply_customer.
    assert apply_customer(template, desired_customer(ACCOUNT, currency_code="GBP")).currency_code == "EUR"


# -- matching existing AIQ customers --------------------------------------------------------------------------


def _aiq(code: str, **fields: str) -> Customer:
    return Customer(code=code, name=fields.pop("name", code), **fields)


def test_an_account_already_synced_keeps_its_derived_customer() -> None:
    from aiq_pipeline.sync.customer import CustomerMatch, match_customer

    found = match_customer(ACCOUNT, [_aiq("ACME"), _aiq("BNY-42")], ["code", "vat", "email"])
    assert found == CustomerMatch("BNY-42", "existing")


def test_existing_aiq_customers_are_matched_by_the_rules_in_order() -> None:
    from aiq_pipeline.sync.customer import CustomerMatch, match_customer

    customers = [
        _aiq("ACME", email="other@acme.example"),  # ACCOUNT.code is ACME
        _aiq("C-0042", vat_registration_number="ie 1234567-t"),  # the same VAT number, written differently
        _aiq("C-0099", email="ANN@acme.example"),
    ]
    assert match_customer(ACCOUNT, customers, ["code", "vat", "email"]) == CustomerMatch("ACME", "code")
    assert match_customer(ACCOUNT, customers, ["vat", "email"]) == CustomerMatch("C-0042", "vat")
    assert match_customer(ACCOUNT, customers, ["email"]) == CustomerMatch("C-0099", "email")
    assert match_customer(ACCOUNT, customers, []) == CustomerMatch("BNY-42", "new")


def test_two_aiq_customers_with_one_e_mail_are_not_guessed_between() -> None:
    from aiq_pipeline.sync.customer import AmbiguousCustomer, ambiguous_problem, match_customer

    customers = [_aiq("C-1", email="ann@acme.example"), _aiq("C-2", email="ann@acme.example")]
    found = match_customer(ACCOUNT, customers, ["email"])
    assert found == AmbiguousCustomer("email", ("C-1", "C-2"))
    problem = ambiguous_problem(ACCOUNT, found)
    assert problem.code is ProblemCode.AMBIGUOUS_CUSTOMER and "C-1, C-2" in problem.message


def test_a_new_customer_carries_its_iso_country() -> None:
    assert desired_customer(ACCOUNT, currency_code="EUR").country_code == "IE"
    assert desired_customer(replace(ACCOUNT, billing_country="Ireland"), currency_code="EUR").country_code is None
