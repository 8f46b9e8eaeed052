"""Webhook subscriptions (administrators): URLs that receive HMAC-signed notifications."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from gateway.api.deps import ADMIN, Principal, db_session, require
from gateway.models import Webhook
from gateway.push import EVENTS

router = APIRouter(tags=["webhooks"])


class NewWebhook(BaseModel):
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://\S+$")
    events: list[str] = Field(default_factory=list, max_length=10)
    department: str | None = Field(None, max_length=32)

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in EVENTS]
        if unknown:
            raise ValueError(f"unknown events {unknown}; use some of {list(EVENTS)}")
        return value


def _view(h: Webhook) -> dict[str, Any]:
    return {
        "id": h.id,
        "url": h.url,
        "events": h.events,
        "department": h.department_id,
        "active": h.active,
        "created_at": h.created_at,
    }


@router.get("/webhooks", summary="Webhook subscriptions")
def list_hooks(
    user: Principal = Depends(require(ADMIN)), session: Session = Depends(db_session)
) -> dict[str, Any]:
    items = [_view(h) for h in session.scalars(select(Webhook).order_by(Webhook.id))]
    return {"total": len(items), "items": items}


@router.post("/webhooks", status_code=201, summary="Subscribe a URL; the secret is shown once")
def add_hook(
    body: NewWebhook,
    user: Principal = Depends(require(ADMIN)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    hook = Webhook(
        url=body.url, secret=secret, events=body.events, department_id=body.department, active=True
    )
    session.add(hook)
    session.flush()
    audit.append(
        session,
        user.actor,
        "webhook.created",
        f"webhook:{hook.id}",
        {"url": body.url, "events": body.events},
    )
    session.commit()
    return {**_view(hook), "secret": secret}


@router.delete("/webhooks/{hook_id}", summary="Remove a subscription")
def remove_hook(
    hook_id: int = PathParam(ge=1, le=2**31 - 1),
    user: Principal = Depends(require(ADMIN)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    hook = session.get(Webhook, hook_id)
    if hook is None:
        raise HTTPException(404, f"webhook {hook_id} not found")
    hook.active = False
    audit.append(session, user.actor, "webhook.removed", f"webhook:{hook_id}", {})
    session.commit()
    return _view(hook)


@router.get("/webhooks/deliveries", summary="Recent delivery attempts")
def deliveries(request: Request, user: Principal = Depends(require(ADMIN))) -> dict[str, Any]:
    items = list(request.app.state.notifier.delivered[-100:])
    return {"total": len(items), "items": items}
