"""The WSDL's Customer (= Account) record, element by element, and its mapping to `models.Customer`.

AIQ's recommended create is GetNewCustomerFromDefaults -> set fields -> UpdateCustomer(create=true), and an
update must echo the record as read (RowVersionNumber included). So the record is written back in WSDL order
with every element AIQ gave: named fields from the dataclass, the rest from `Customer.other`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final, NamedTuple

from aiq_pipeline.accountsiq.envelope import (
    MIN_DATETIME_TEXT,
    NIL_ATTR,
    XmlValue,
    add,
    add_group,
    q,
    text_or_nil,
    to_bool,
    to_int,
)
from aiq_pipeline.accountsiq.models import Customer


class Slot(NamedTuple):
    name: str
    kind: str  # the XSD type's local name
    required: bool  # minOccurs=1: always sent
    nillable: bool


# Account's sequence, in WSDL order (a test checks it against the vendor WSDL).
CUSTOMER_ELEMENTS: Final[tuple[Slot, ...]] = tuple(
    Slot(*row)
    for row in (
        ("AccountID", "int", True, False),
        ("ExternalApproverID", "int", True, True),
        ("LedgerType", "LedgerType", True, False),
        ("Code", "string", False, False),
        ("CountryCode", "string", False, False),
        ("Name", "string", False, False),
        ("GroupID", "string", False, False),
        ("DefaultTaxCode", "string", False, False),
        ("AreaID", "string", False, False),
        ("BankAccountCode", "string", False, False),
        ("CountryID", "string", False, False),
        ("CreditTermID", "string", False, False),
        ("CurrencyCode", "string", False, False),
        ("PaymentMethodID", "string", False, False),
        ("AuthorUserID", "string", False, False),
        ("ShipViaID", "string", False, False),
        ("CreationDate", "dateTime", True, False),
        ("Address1", "string", False, False),
        ("Address2", "string", False, False),
        ("City", "string", False, False),
        ("County_State", "string", False, False),
        ("Country", "string", False, False),
        ("PostCode", "string", False, False),
        ("DeliveryName", "string", False, False),
        ("DeliveryAddress1", "string", False, False),
        ("DeliveryAddress2", "string", False, False),
        ("DeliveryCity", "string", False, False),
        ("DeliveryCounty_State", "string", False, False),
        ("DeliveryCountry", "string", False, False),
        ("DeliveryPostCode", "string", False, False),
        ("DeliveryContact", "string", False, False),
        ("DeliveryPhone", "string", False, False),
        ("DeliveryFax", "string", False, False),
        ("Phone", "string", False, False),
        ("Fax", "string", False, False),
        ("Email", "string", False, False),
        ("WebAddress", "string", False, False),
        ("Contact", "string", False, False),
        ("VATRegistrationNumber", "string", False, False),
        ("VATExemptReference", "string", False, False),
        ("DiscountRate", "decimal", True, False),
        ("UseAccountTaxCode", "boolean", True, False),
        ("DefaultGLAccountCode", "string", False, False),
        ("ControlGLAccountCode", "string", False, False),
        ("IsActive", "boolean", True, False),
        ("Hold", "short", True, False),
        ("HeadOfficeAccountID", "int", True, True),
        ("Notes", "string", False, False),
        ("UseHeadOffice", "boolean", True, False),
        ("IsHeadOffice", "boolean", True, False),
        ("CreditLimit", "decimal", True, False),
        ("RegionID", "string", False, False),
        ("PriorityID", "string", False, False),
        ("DeliveryRouteID", "string", False, False),
        ("PriceCategoryID", "string", False, False),
        ("PriceListID", "string", False, False),
        ("DepartmentID", "string", False, False),
        ("InternationalBankAccountNumber", "string", False, False),
        ("BankSortCode", "string", False, False),
        ("BankCode", "string", False, False),
        ("BankSwiftCode", "string", False, False),
        ("AccountReferralID", "string", False, False),
        ("MobilePhone", "string", False, False),
        ("IsFranchise", "boolean", True, False),
        ("ContractorTaxCode", "string", False, False),
        ("RowVersionNumber", "string", False, False),
        ("EDICentralID", "string", False, False),
        ("EPaymentReference", "string", False, False),
        ("SalesRepresentativeID", "long", True, True),
    )
)

# models.Customer field -> WSDL element; every other element travels in `Customer.other`.
NAMED_FIELDS: Final[dict[str, str]] = {
    "code": "Code",
    "name": "Name",
    "account_id": "AccountID",
    "currency_code": "CurrencyCode",
    "address1": "Address1",
    "address2": "Address2",
    "city": "City",
    "county_state": "County_State",
    "country": "Country",
    "country_code": "CountryCode",
    "post_code": "PostCode",
    "contact": "Contact",
    "email": "Email",
    "phone": "Phone",
    "vat_registration_number": "VATRegistrationNumber",
    "default_tax_code": "DefaultTaxCode",
    "is_active": "IsActive",
    "row_version_number": "RowVersionNumber",
}
_FIELD_BY_ELEMENT: Final = {element: name for name, element in NAMED_FIELDS.items()}

# What a required value-type element holds when AIQ gave nothing (the .NET defaults).
_DEFAULTS: Final[dict[str, str]] = {
    "int": "0",
    "short": "0",
    "long": "0",
    "decimal": "0",
    "boolean": "false",
    "dateTime": MIN_DATETIME_TEXT,
    "LedgerType": "Sales",
}


def customer_from_xml(record: ET.Element) -> Customer:
    texts: dict[str, str | None] = {}  # WSDL element -> text (None for nil), for the named fields
    other: dict[str, str | None] = {}
    for element in record:
        name = element.tag.rpartition("}")[2]
        (texts if name in _FIELD_BY_ELEMENT else other)[name] = text_or_nil(element)
    return Customer(
        code=texts.get("Code"),
        name=texts.get("Name"),
        account_id=to_int(texts.get("AccountID")),
        currency_code=texts.get("CurrencyCode"),
        address1=texts.get("Address1"),
        address2=texts.get("Address2"),
        city=texts.get("City"),
        county_state=texts.get("County_State"),
        country=texts.get("Country"),
        country_code=texts.get("CountryCode"),
        post_code=texts.get("PostCode"),
        contact=texts.get("Contact"),
        email=texts.get("Email"),
        phone=texts.get("Phone"),
        vat_registration_number=texts.get("VATRegistrationNumber"),
        default_tax_code=texts.get("DefaultTaxCode"),
        is_active=to_bool(texts.get("IsActive"), default=True),
        row_version_number=texts.get("RowVersionNumber"),
        other=other,
    )


class _Missing:
    """Marks an element neither a named field nor `Customer.other` holds."""


_MISSING: Final = _Missing()


def _element_value(customer: Customer, slot: Slot) -> XmlValue | _Missing | None:
    field_name = _FIELD_BY_ELEMENT.get(slot.name)
    if field_name is None:
        return customer.other.get(slot.name, _MISSING)
    value: XmlValue | None = getattr(customer, field_name)
    return value


def add_customer(parent: ET.Element, name: str, customer: Customer) -> ET.Element:
    """`<name>` holding the Account sequence in WSDL order."""
    record = add_group(parent, name)
    for slot in CUSTOMER_ELEMENTS:
        value = _element_value(customer, slot)
        if isinstance(value, _Missing) or value is None:
            if slot.nillable:
                ET.SubElement(record, q(slot.name), {NIL_ATTR: "true"})
            elif slot.required:
                add(record, slot.name, _DEFAULTS[slot.kind])
            continue
        add(record, slot.name, value)
    return record


def unknown_other_keys(customer: Customer) -> set[str]:
    """Keys of `other` that are not Account elements (they would be silently dropped)."""
    known = {slot.name for slot in CUSTOMER_ELEMENTS}
    return set(customer.other) - known - set(_FIELD_BY_ELEMENT)
