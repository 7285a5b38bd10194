"""Handlers of loan products, and the two maker-checker change kinds that publish and retire them.

Publishing and retiring go through ``access``'s change requests: the handlers here check the
product and answer the ``ProposeChange`` to send; the product changes only in ``_apply_publish``
/ ``_apply_retire``, which ``access`` calls in the same transaction as a checker's approval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dipper.access import commands as access_commands
from dipper.access import queries as access
from dipper.access.queries import Permission
from dipper.kernel.errors import Conflict, NotFound, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.loans import commands, events
from dipper.loans.adapters.products import Product, ProductVersion
from dipper.loans.domain import product as domain
from dipper.loans.domain.product import ProductStatus, VersionStatus
from dipper.loans.queries.products import pending_product_changes
from dipper.persistence.uow import SqlAlchemyUnitOfWork

# -- lookups ------------------------------------------------------------------------------------------


def _product(uow: SqlAlchemyUnitOfWork, product_id: str) -> Product:
    p = uow.session.scalar(select(Product).where(Product.id == product_id))
    if p is None:
        raise NotFound("no such product", code="product_not_found")
    return p


def _version(uow: SqlAlchemyUnitOfWork, product_id: str, version_no: int) -> ProductVersion:
    v = uow.session.scalar(
        select(ProductVersion).where(
            ProductVersion.product_id == product_id, ProductVersion.version_no == version_no
        )
    )
    if v is None:
        raise NotFound("no such version of this product", code="version_not_found")
    return v


def _ensure_active(product: Product) -> None:
    if product.status != ProductStatus.ACTIVE:
        raise Conflict("the product is retired", code="product_retired")


def _pending_publish(pending: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((c for c in pending if c["kind"] == domain.PUBLISH_KIND), None)


def _refuse_if_pending(pending: list[dict[str, Any]], version: ProductVersion) -> None:
    """A draft waiting for a checker is frozen: the checker must approve what the maker submitted."""
    change = _pending_publish(pending)
    if change is not None and change["payload"].get("version_id") == version.id:
        raise Conflict(
            "this version is waiting for approval; reject the change request to edit it again",
            code="version_pending_approval",
            details={"change_id": change["id"]},
        )


# -- commands -----------------------------------------------------------------------------------------


def create_product(cmd: commands.CreateProduct, uow: SqlAlchemyUnitOfWork) -> str:
    header, terms = domain.check_new_product(
        code=cmd.code,
        name=cmd.name,
        name_en=cmd.name_en,
        scene=cmd.scene,
        segment=cmd.segment,
        terms=cmd.terms,
    )
    assert terms is not None
    with uow:
        if uow.session.scalar(select(Product.id).where(Product.code == header.code)):
            raise Conflict(f"product {header.code!r} exists", code="product_exists")
        product = Product(
            id=new_id(),
            code=header.code,
            name=header.name,
            name_en=header.name_en,
            scene=header.scene,
            segment=header.segment,
            status=ProductStatus.ACTIVE.value,
            created_by=uow.actor.id,
        )
        version = ProductVersion(
            product_id=product.id, version_no=1, status=VersionStatus.DRAFT.value, created_by=uow.actor.id
        )
        version.set_terms(terms)
        uow.session.add_all([product, version])
        try:
            uow.commit()
        except IntegrityError:  # the same code created concurrently
            raise Conflict(f"product {header.code!r} exists", code="product_exists") from None
        return product.id


def draft_product_version(cmd: commands.DraftProductVersion, uow: SqlAlchemyUnitOfWork) -> int:
    """A new draft after the latest version; one draft at a time, so two makers never race."""
    with uow:
        product = _product(uow, cmd.product_id)
        _ensure_active(product)
        versions = list(
            uow.session.scalars(
                select(ProductVersion)
                .where(ProductVersion.product_id == product.id)
                .order_by(ProductVersion.version_no)
            )
        )
        draft = next((v for v in versions if v.status == VersionStatus.DRAFT), None)
        if draft is not None:
            raise Conflict(
                f"version {draft.version_no} is still a draft: edit it instead",
                code="draft_exists",
                details={"version_no": draft.version_no},
            )
        latest = versions[-1]
        terms = domain.parse_terms(cmd.terms if cmd.terms is not None else latest.terms)
        version = ProductVersion(
            product_id=product.id,
            version_no=latest.version_no + 1,
            status=VersionStatus.DRAFT.value,
            created_by=uow.actor.id,
        )
        version.set_terms(terms)
        uow.session.add(version)
        try:
            uow.commit()
        except IntegrityError:  # another draft was created concurrently
            raise Conflict("another draft was just created", code="draft_exists") from None
        return version.version_no


def update_draft_version(cmd: commands.UpdateDraftVersion, uow: SqlAlchemyUnitOfWork) -> None:
    pending = pending_product_changes(uow, cmd.product_id)
    with uow:
        product = _product(uow, cmd.product_id)
        version = _version(uow, product.id, cmd.version_no)
        domain.ensure_editable(version.status)
        _ensure_active(product)
        _refuse_if_pending(pending, version)
        version.set_terms(domain.parse_terms(cmd.terms))
        version.updated_at = uow.clock.now()
        uow.commit()


def submit_product_version(
    cmd: commands.SubmitProductVersion, uow: SqlAlchemyUnitOfWork
) -> access_commands.ProposeChange:
    """Check the draft and answer the change request that asks a checker to publish it."""
    pending = pending_product_changes(uow, cmd.product_id)
    with uow:
        product = _product(uow, cmd.product_id)
        version = _version(uow, product.id, cmd.version_no)
        domain.ensure_editable(version.status)
        _ensure_active(product)
        _refuse_if_pending(pending, version)
        # Checked again under today's rules: the document was valid when saved, rules may have tightened.
        terms = domain.parse_terms(version.terms)
        payload = domain.check_publish_payload(
            {
                "product_id": product.id,
                "product_code": product.code,
                "version_id": version.id,
                "version_no": version.version_no,
                "terms": domain.terms_to_dict(terms),
                "terms_digest": domain.terms_digest(terms),
                "note": cmd.note,
            }
        )
        no = version.version_no
        return access_commands.ProposeChange(
            tenant_id=cmd.tenant_id,
            kind=domain.PUBLISH_KIND,
            target=product.id,
            summary=f"Publish product {product.code} v{no} · 发布产品 {product.name} 第 {no} 版",
            payload=payload,
        )


def retire_product(cmd: commands.RetireProduct, uow: SqlAlchemyUnitOfWork) -> access_commands.ProposeChange:
    """Check the product and answer the change request that asks a checker to retire it."""
    pending = pending_product_changes(uow, cmd.product_id)
    with uow:
        product = _product(uow, cmd.product_id)
        _ensure_active(product)
        waiting = next((c for c in pending if c["kind"] == domain.RETIRE_KIND), None)
        if waiting is not None:
            raise Conflict(
                "retiring this product is already waiting for approval",
                code="retirement_pending",
                details={"change_id": waiting["id"]},
            )
        payload = domain.check_retire_payload(
            {"product_id": product.id, "product_code": product.code, "reason": cmd.reason}
        )
        return access_commands.ProposeChange(
            tenant_id=cmd.tenant_id,
            kind=domain.RETIRE_KIND,
            target=product.id,
            summary=f"Retire product {product.code} · 停用产品 {product.name}",
            payload=payload,
        )


# -- the change kinds: applied by access when a checker approves ---------------------------------------


def _apply_publish(payload: dict[str, Any], target: str, uow: SqlAlchemyUnitOfWork) -> None:
    """Publish the approved version (effective today) and supersede the one it replaces.

    Runs inside access's transaction (its session, no commit here). Everything is checked again:
    the request may be old, or may have been proposed by hand through ``/changes``."""
    if target != payload.get("product_id"):
        raise ValidationFailed("the change's target is not its product", code="invalid_change_payload")
    product = _product(uow, payload["product_id"])
    _ensure_active(product)
    version = uow.session.scalar(
        select(ProductVersion).where(
            ProductVersion.id == payload["version_id"], ProductVersion.product_id == product.id
        )
    )
    if version is None:
        raise NotFound("no such version of this product", code="version_not_found")
    domain.ensure_editable(version.status)
    terms = domain.parse_terms(version.terms)
    if domain.terms_digest(terms) != payload["terms_digest"]:
        raise Conflict(
            "the version changed after it was submitted; reject this request and submit again",
            code="version_changed_since_submission",
        )
    now, today = uow.clock.now(), uow.clock.today()
    previous = uow.session.scalar(
        select(ProductVersion).where(
            ProductVersion.product_id == product.id, ProductVersion.status == VersionStatus.PUBLISHED
        )
    )
    if previous is not None:
        previous.status = VersionStatus.SUPERSEDED.value
        previous.superseded_at = now
        previous.effective_to = today
    version.status = VersionStatus.PUBLISHED.value
    version.published_at = now
    version.published_by = uow.actor.id
    version.effective_from = today
    uow.emit(
        events.ProductPublished(
            tenant_id=product.tenant_id,
            product_id=product.id,
            product_code=product.code,
            version_id=version.id,
            version_no=version.version_no,
            effective_from=today.isoformat(),
            terms_digest=version.terms_digest,
            superseded_version_no=previous.version_no if previous is not None else None,
        )
    )


def _apply_retire(payload: dict[str, Any], target: str, uow: SqlAlchemyUnitOfWork) -> None:
    """No new offers from today; loans already signed keep their version."""
    if target != payload.get("product_id"):
        raise ValidationFailed("the change's target is not its product", code="invalid_change_payload")
    product = _product(uow, payload["product_id"])
    _ensure_active(product)
    product.status = ProductStatus.RETIRED.value
    product.retired_at = uow.clock.now()
    product.retired_on = uow.clock.today()
    uow.emit(
        events.ProductRetired(
            tenant_id=product.tenant_id,
            product_id=product.id,
            product_code=product.code,
            retired_on=product.retired_on.isoformat(),
        )
    )


def _register_change_kind(
    name: str,
    description: str,
    validate: Callable[[dict[str, Any]], dict[str, Any]],
    apply: Callable[[dict[str, Any], str, SqlAlchemyUnitOfWork], None],
) -> None:
    access.register_change_kind(
        access.ChangeKind(name, Permission.PRODUCTS_APPROVE.value, description),
        validate=validate,
        apply=apply,
    )


_register_change_kind(
    domain.PUBLISH_KIND,
    "Publish a loan product version (its terms become the ones offers use)",
    domain.check_publish_payload,
    _apply_publish,
)
_register_change_kind(
    domain.RETIRE_KIND,
    "Retire a loan product (no new offers; signed loans keep their terms)",
    domain.check_retire_payload,
    _apply_retire,
)

COMMAND_HANDLERS: dict[type, Callable[..., Any]] = {
    commands.CreateProduct: create_product,
    commands.DraftProductVersion: draft_product_version,
    commands.UpdateDraftVersion: update_draft_version,
    commands.SubmitProductVersion: submit_product_version,
    commands.RetireProduct: retire_product,
}
EVENT_HANDLERS: dict[type, list[Callable[..., Any]]] = {}
