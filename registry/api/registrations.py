"""/registrations: partners register joint training bases; the bureau admin reviews them."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, carriers, clock, registrations
from registry.api.common import (
    LIST_HEADERS,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate,
    read_with_etag,
)
from registry.db import apply_sort
from registry.models import Carrier, CarrierPartner
from schemas.common import update_schema
from schemas.registrations import (
    ApprovalSchema,
    RegistrationQueryArgsSchema,
    RegistrationSchema,
    RejectionSchema,
)

blp = Blueprint(
    "registrations",
    __name__,
    url_prefix="/api/v1/registrations",
    description="Partner self-registration of joint training bases and their review. A "
    "registration is a carrier in status `submitted` (the same id under /carriers); its "
    "partner may edit it until the bureau admin approves or rejects it.",
)

ETAG = "r"
SORTS = {
    name: getattr(Carrier, name)
    for name in ("name", "status", "level", "created_at", "reviewed_at")
}


def visible():
    """The registrations the caller may read: the bureau all, a partner its own submissions,
    an operator those of its organisations; 401 anonymous."""
    who = access.require_reader()
    return access.registration_scope(carriers.with_host(), who)


def get_visible(registration_id: int) -> Carrier:
    carrier = visible().where(Carrier.id == registration_id).first()
    if carrier is None:
        abort(404, message=f"No registration {registration_id}.")
    return carrier


def shown(carrier: Carrier) -> dict:
    return registrations.present([carrier])[0]


def answer(carrier: Carrier, status: int = 200):
    carrier = carriers.load(carrier.id)
    return shown(carrier), status, {"ETag": etag_of(ETAG, carrier)}


@blp.route("")
class Registrations(MethodView):
    @blp.arguments(RegistrationQueryArgsSchema, location="query")
    @blp.response(200, RegistrationSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List registrations (the bureau all; partners and operators their own)"""
        query = visible()
        if "status" in args:
            query = query.where(Carrier.status == args["status"])
        if "organization_id" in args:
            org = args["organization_id"]
            partnered = CarrierPartner.select(CarrierPartner.carrier).where(
                CarrierPartner.organization == org
            )
            query = query.where((Carrier.host_organization == org) | Carrier.id.in_(partnered))
        if "q" in args:
            query = query.where(Carrier.name.contains(args["q"]))
        query = apply_sort(query, args.get("sort"), SORTS, Carrier.created_at)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return registrations.present(rows), 200, headers

    @blp.arguments(RegistrationSchema)
    @blp.response(201, RegistrationSchema)
    @error_responses(blp, 400, 401, 403, 409, 413)
    def post(self, data):
        """Submit a registration (a partner for its own organisations, or the bureau admin)

        The partner's organisation must be the host or one of the partners. The carrier
        starts in status `submitted` and is not public until it is accredited.
        """
        who = access.require_registrant(registrations.organisations_named(data))
        carrier = registrations.submit(data, submitted_by=who.id)
        body, status, headers = answer(carrier, 201)
        return body, status, {**headers, "Location": f"{blp.url_prefix}/{carrier.id}"}


@blp.route("/<id:registration_id>")
class RegistrationsById(MethodView):
    @blp.response(200, RegistrationSchema)
    @error_responses(blp, 401, 404)
    def get(self, registration_id):
        """Get one registration with its review (with its ETag)"""
        carrier = get_visible(registration_id)
        return read_with_etag(ETAG, carrier, lambda: shown(carrier))

    @blp.arguments(update_schema(RegistrationSchema))
    @blp.response(200, RegistrationSchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, registration_id):
        """Edit a registration until it is reviewed (its partner, or the bureau admin)

        After the review the registration is a carrier like any other: 409.
        """
        carrier = get_visible(registration_id)
        access.require_registration_editor(carrier)
        access.require_registrant(registrations.organisations_named(data, carrier))
        check_if_match(ETAG, carrier)
        return answer(registrations.edit(carrier, data))


@blp.route("/<id:registration_id>/approve")
class RegistrationApproval(MethodView):
    @blp.arguments(ApprovalSchema)
    @blp.response(200, RegistrationSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, decision, registration_id):
        """Approve a registration as applying or accredited (bureau admin)

        Records an `application_submitted` or `accredited` milestone dated `occurred_on`
        (default today). A registration is reviewed once: reviewing it again is a 409.
        """
        access.require_admin()
        carrier = get_visible(registration_id)
        decision.setdefault("occurred_on", clock.today())
        return answer(registrations.approve(carrier, decision))


@blp.route("/<id:registration_id>/reject")
class RegistrationRejection(MethodView):
    @blp.arguments(RejectionSchema)
    @blp.response(200, RegistrationSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, data, registration_id):
        """Reject a registration with a reason (bureau admin)

        Its status becomes `rejected` and the reason its `review_comment`. A registration is
        reviewed once: reviewing it again is a 409.
        """
        access.require_admin()
        carrier = get_visible(registration_id)
        return answer(registrations.reject(carrier, data["reason"].strip()))
