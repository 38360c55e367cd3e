"""Schema-valid Result payloads for the scripted fake (each checked against the WSDL when served)."""

from __future__ import annotations

from xml.sax.saxutils import escape


def entities(*rows: tuple[str, str, str]) -> str:
    return "".join(
        f"<WSEntity><EntityID>{i}</EntityID><EntityName>{escape(n)}</EntityName><BaseCurrency>{c}</BaseCurrency>"
        "</WSEntity>"
        for i, n, c in rows
    )


COMPANY = (
    "<CompanyName>Acme &amp; Sons Ltd</CompanyName><LocaleName>en-IE</LocaleName>"
    "<BaseCurrencyCode>EUR</BaseCurrencyCode><TaxRegistrationNumber>IE1234567T</TaxRegistrationNumber>"
    "<IsConsolidationCompany>false</IsConsolidationCompany>"
)


def gl_account(code: str, description: str, account_type: str = "Posting", departmental: bool = False) -> str:
    return (
        f"<WSChartOfAccountLine><Code>{code}</Code><Description>{escape(description)}</Description>"
        f"<AccountType>{account_type}</AccountType><DefaultTaxID>1</DefaultTaxID><GLCategory>Sales</GLCategory>"
        f"<IsDepartmental>{str(departmental).lower()}</IsDepartmental><BalanceSheetType>PL</BalanceSheetType>"
        "<IsActive>true</IsActive><CurrencyCode>EUR</CurrencyCode><GLGroup>Revenue</GLGroup>"
        "</WSChartOfAccountLine>"
    )


def tax(code: str, rate: str, is_default: bool = False) -> str:
    return (
        f"<Tax><ID>7</ID><Code>{code}</Code><Description>Standard</Description><RowVersionNumber>1</RowVersionNumber>"
        f"<Rate>{rate}</Rate><EuropeanCommunitySales>false</EuropeanCommunitySales>"
        "<EuropeanCommunityPurchases>false</EuropeanCommunityPurchases><EUTrade>false</EUTrade>"
        '<ReverseCharge xsi:nil="true"/><IsGoods>false</IsGoods><PartialReclaim>false</PartialReclaim>'
        f"<PartialReclaimRate>0</PartialReclaimRate><IsDefault>{str(is_default).lower()}</IsDefault>"
        "<IsTaxExclude>false</IsTaxExclude><IsStandardRate>true</IsStandardRate>"
        '<GrossThreshold xsi:nil="true"/><NetThreshold xsi:nil="true"/><TaxTypeId xsi:nil="true"/>'
        "<SalesTaxInclude>false</SalesTaxInclude><PurchasesTaxInclude>false</PurchasesTaxInclude>"
        "<IsWithHoldingTax>false</IsWithHoldingTax><Is1099Code>false</Is1099Code></Tax>"
    )


def period(pid: int, number: int, year: int, start: str, end: str, sales_closed: bool) -> str:
    flags = (
        f"<{{p}}SalesLedgerClosed>{str(sales_closed).lower()}</{{p}}SalesLedgerClosed>"
        "<{p}PurchasesLedgerClosed>false</{p}PurchasesLedgerClosed>"
        "<{p}GeneralLedgerClosed>false</{p}GeneralLedgerClosed><{p}FinancialYearClosed>false</{p}FinancialYearClosed>"
    )

    def half(p: str) -> str:
        return (
            f"<{p}PeriodID>{pid}</{p}PeriodID><{p}PeriodNumber>{number}</{p}PeriodNumber>"
            f"<{p}PeriodName>P{number}</{p}PeriodName><{p}FinancialYear>{year}</{p}FinancialYear>"
            f"<{p}StartDate>{start}</{p}StartDate><{p}EndDate>{end}</{p}EndDate>" + flags.format(p=p)
        )

    return f"<WSFinancialPeriodDTO>{half('_')}{half('')}</WSFinancialPeriodDTO>"


def customer(code: str | None, name: str, *, account_id: int = 0, row_version: str | None = "AAAAAAAB") -> str:
    """A Customer as AIQ sends it: required value types present, some nils, some strings omitted."""
    code_xml = f"<Code>{escape(code)}</Code>" if code is not None else ""
    row = f"<RowVersionNumber>{row_version}</RowVersionNumber>" if row_version else ""
    return (
        f'<AccountID>{account_id}</AccountID><ExternalApproverID xsi:nil="true"/><LedgerType>Sales</LedgerType>'
        f"{code_xml}<CountryCode>IE</CountryCode><Name>{escape(name)}</Name><DefaultTaxCode>STD</DefaultTaxCode>"
        "<AreaID>DUB</AreaID><CreditTermID>30D</CreditTermID><CurrencyCode>EUR</CurrencyCode>"
        "<CreationDate>2024-03-27T15:55:51.5640000+00:00</CreationDate><Address1>1 Main St</Address1>"
        "<City>Dublin</City><Fax></Fax><Email>ap@example.com</Email><DiscountRate>0</DiscountRate>"
        "<UseAccountTaxCode>true</UseAccountTaxCode><ControlGLAccountCode>1100</ControlGLAccountCode>"
        '<IsActive>true</IsActive><Hold>0</Hold><HeadOfficeAccountID xsi:nil="true"/>'
        "<UseHeadOffice>false</UseHeadOffice><IsHeadOffice>false</IsHeadOffice><CreditLimit>5000.00</CreditLimit>"
        f'<IsFranchise>false</IsFranchise>{row}<SalesRepresentativeID xsi:nil="true"/>'
    )


def transaction_detail(gl: str, amount: str, *, control: bool = False, tax_line: bool = False) -> str:
    return (
        f"<WSTransactionDetail><GLAccountCode>{gl}</GLAccountCode><IsControlLine>{str(control).lower()}</IsControlLine>"
        f"<IsTaxLine>{str(tax_line).lower()}</IsTaxLine><IsStockLine>false</IsStockLine><Amount>{amount}</Amount>"
        f"<BCAmount>{amount}</BCAmount><IsReconciled>false</IsReconciled><Description>line</Description>"
        "<TransactionDate>2025-01-31T00:00:00</TransactionDate><PeriodDate>2025-01-31T00:00:00</PeriodDate>"
        "<ExchangeRate>1</ExchangeRate></WSTransactionDetail>"
    )


def transaction_summary(tid: int, reference: str, control_amount: str = "123.00") -> str:
    return (
        f"<WSTransactionSummary><AccountID>11</AccountID><AccountCode>ACME</AccountCode><Ledger>Sales</Ledger>"
        f"<TransactionType>SI</TransactionType><TransactionID>{tid}</TransactionID>"
        "<IsBatchInvoiceOrNote>true</IsBatchInvoiceOrNote><InvoiceID>0</InvoiceID>"
        f"<InternalNumber>SI-{tid}</InternalNumber><ExternalReference>{escape(reference)}</ExternalReference>"
        f"<ControlAmount>{control_amount}</ControlAmount><OutstandingAmount>{control_amount}</OutstandingAmount>"
        f"<ControlBCAmount>{control_amount}</ControlBCAmount><TransactionDate>2025-01-31T00:00:00</TransactionDate>"
        "<FinancialYear>2025</FinancialYear><PeriodNumber>1</PeriodNumber><PeriodName>P1</PeriodName>"
        "<CreationDate>2025-01-31T10:11:12.1234567Z</CreationDate><LineDetails>"
        + transaction_detail("1100", control_amount, control=True)
        + transaction_detail("4000", "-100.00")
        + transaction_detail("2200", "-23.00", tax_line=True)
        + "</LineDetails><CurrencyCode>EUR</CurrencyCode><PeriodDate>2025-01-31T00:00:00</PeriodDate>"
        "<IsReversed>false</IsReversed><IsInDispute>false</IsInDispute><NumberOfAttachments>0</NumberOfAttachments>"
        "</WSTransactionSummary>"
    )


def transaction_line(tid: int, gl: str, amount: str, line_type: str, *, control: bool = False) -> str:
    return (
        f"<TransactionLine><TransactionLineID>{abs(hash((gl, amount))) % 1000}</TransactionLineID>"
        f'<TransactionID>{tid}</TransactionID><AccountID>11</AccountID><BankID xsi:nil="true"/>'
        f"<CurrencyCode>EUR</CurrencyCode><TaxCode>STD</TaxCode><TransactionGroupNumber>1</TransactionGroupNumber>"
        f"<GLAccountCode>{gl}</GLAccountCode><TransactionLineType>{line_type}</TransactionLineType>"
        "<Description>line</Description><InternalNumber>SI-9</InternalNumber>"
        "<ExternalReference>bunny-inv-1</ExternalReference><IsInDispute>false</IsInDispute>"
        "<CreationDate>2025-01-31T10:00:00</CreationDate><TransactionDate>2025-01-31T00:00:00</TransactionDate>"
        f"<PeriodDate>2025-01-31T00:00:00</PeriodDate><Amount>{amount}</Amount><AllocatedAmount>0</AllocatedAmount>"
        f"<BCAmount>{amount}</BCAmount><ExchangeRate>1</ExchangeRate><Reconciled>false</Reconciled>"
        '<BankstatementID xsi:nil="true"/><PeriodID>1</PeriodID><InvoiceID xsi:nil="true"/>'
        '<AllocationNumber xsi:nil="true"/><BroadType>None</BroadType><IsReversed>false</IsReversed>'
        '<ReasonID xsi:nil="true"/><SupplierBatchPaymentID xsi:nil="true"/><VatReturnID xsi:nil="true"/>'
        "<SupplierBatchPaymentDiscountedAmount>0</SupplierBatchPaymentDiscountedAmount>"
        "<SupplierBatchPaymentAllocatedAmount>0</SupplierBatchPaymentAllocatedAmount>"
        f"<IsBankLine>false</IsBankLine><IsAccountControlLine>{str(control).lower()}</IsAccountControlLine>"
        "</TransactionLine>"
    )


def wsresult_status(status: str = "Success", code: str = "SUCCESS", message: str | None = None) -> str:
    msg = f"<ErrorMessage>{escape(message)}</ErrorMessage>" if message else ""
    return (
        f"<WSResultStatus><Status>{status}</Status><ErrorCode>{code}</ErrorCode>{msg}"
        "<HasExpired>false</HasExpired></WSResultStatus>"
    )
