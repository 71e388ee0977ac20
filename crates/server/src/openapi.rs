//! The OpenAPI 3 document, generated from the handlers' annotations.

use crate::api::{ledger, notifications, pay_orders, payouts, refunds};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The business API document.
#[derive(OpenApi)]
#[openapi(
    info(title = "paydesk business API", description = "Signed with PAYDESK-HMAC-SHA256; see docs/signing.md."),
    paths(
        pay_orders::create,
        pay_orders::list,
        pay_orders::get,
        pay_orders::get_by_business_no,
        pay_orders::close,
        notifications::list,
        notifications::resend,
        refunds::create,
        refunds::list,
        refunds::get,
        refunds::get_by_business_no,
        payouts::create_payout,
        payouts::create_withdrawal,
        payouts::get,
        payouts::list,
        payouts::cancel,
        ledger::balance,
        ledger::statement,
        ledger::settle,
        ledger::credit,
    ),
    modifiers(&Hmac)
)]
pub struct ApiDoc;

struct Hmac;

impl Modify for Hmac {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "paydesk_hmac",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "PAYDESK-HMAC-SHA256 app_id=\"..\",timestamp=\"..\",nonce=\"..\",signature=\"..\"",
            ))),
        );
    }
}
