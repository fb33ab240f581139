//! Plan details: the key's limit and its usage in the current billing cycle (the calendar month, UTC).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{authenticate, render, State};
use crate::domain::time::{billing_cycle, iso};
use crate::domain::Editor;
use crate::error::ApiError;

/// Reported as `usage_limit` and `remaining_usage_limit` for a key without a limit.
const UNLIMITED: i64 = -1;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/plan", web::get().to(plan_details));
}

async fn plan_details(state: State, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let editor = Editor::Writer;
    let key = authenticate(&state, &req, None, editor).await?;
    let now = state
        .store
        .now()
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    let (cycle_start, cycle_end) = billing_cycle(now);
    let total_usage = state
        .store
        .count_opens(key.id, cycle_start)
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    let (usage_limit, remaining) = match key.usage_limit {
        Some(limit) => (limit, (limit - total_usage).max(0)),
        None => (UNLIMITED, UNLIMITED),
    };
    Ok(render::ok(json!({
        "plan_name": if key.usage_limit.is_some() { "docsession limited" } else { "docsession unlimited" },
        "payment_link": "",
        "subscription_interval": "monthly",
        "subscription_period": format!("{} - {}", iso(cycle_start), iso(cycle_end)),
        "apikey_id": key.id,
        "apikey_generated_time": iso(key.created_at),
        "apikey_generated_time_ms": key.created_at,
        "last_payment_date": iso(cycle_start),
        "last_payment_date_ms": cycle_start,
        "next_payment_date": iso(cycle_end),
        "next_payment_date_ms": cycle_end,
        "usage_limit": usage_limit,
        "total_usage": total_usage,
        "remaining_usage_limit": remaining,
    })))
}
