"""/registrations: partners register joint training bases; the bureau admin reviews them."""

from __future__ import annotations

from flask.views import MethodView

from registry import access, carriers, clock, names, registrations
from registry.api.common import ResourceBlueprint, error_responses, sort_columns
from registry.models import Carrier, CarrierPartner
from schemas.common import update_schema
from schemas.registrations import (
    ApprovalSchema,
    RegistrationQueryArgsSchema,
    RegistrationSchema,
    RejectionSchema,
)

blp = ResourceBlueprint(
    "registrations",
    __name__,
    url_prefix="/api/v1/registrations",
    description="Partner self-registration of joint training bases and their review. A "
    "registration is a carrier in status `submitted` (the same id under /carriers); its "
    "partner may edit it until the bureau admin approves or rejects it.",
    etag_prefix="rg",
)

SORTS = sort_columns(RegistrationQueryArgsSchema, Carrier, name=Carrier.sort_key)


def visible():
    """The registrations the caller may read: the bureau all, a partner its own submissions,
    an operator those of its organisations; 401 anonymous."""
    who = access.require_reader()
    return access.registration_scope(carriers.with_host(), who)


def get_visible(registration_id: int) -> Carrier:
    return blp.get_or_404(visible(), registration_id, "registration")


def shown(carrier: Carrier) -> dict:
    return registrations.present([carrier])[0]


def answer(carrier: Carrier, status: int = 200):
    carrier = carriers.load(carrier.id)
    return blp.written(shown(carrier), carrier, status)


@blp.route("")
class Registrations(MethodView):
    @blp.listing(RegistrationQueryArgsSchema, RegistrationSchema(many=True), 401)
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
            query = query.where(names.matches(Carrier.search_key, args["q"]))
        return blp.page(query, args, registrations.present, SORTS, Carrier.created_at)

    @blp.arguments(RegistrationSchema)
    @blp.write_response(RegistrationSchema, 201)
    @error_responses(blp, 400, 401, 403, 409, 413)
    def post(self, data):
        """Submit a registration (a partner for its own organisations, or the bureau admin)

        One of the partner's own organisations must be the host or a partner: it is the
        submitting organisation, the only one whose partners may edit or withdraw the
        registration. A partner names its own organisations by id or credit code and every
        other one by credit code and name (`host_uscc`/`host_name`, `partners[].uscc`/`name`):
        those are kept as typed, shown to no one else, and linked (or created, when no
        organisation has the code) when the bureau approves. The carrier starts in status
        `submitted` and is not public until it is accredited.
        """
        who = access.require_registrant()
        carrier = registrations.submit(data, who)
        return blp.created(shown(carriers.load(carrier.id)), carrier)


@blp.route("/<id:registration_id>")
class RegistrationsById(MethodView):
    @blp.read_response(RegistrationSchema)
    @error_responses(blp, 401, 404)
    def get(self, registration_id):
        """Get one registration with its review (with its ETag)"""
        carrier = get_visible(registration_id)
        return blp.read(carrier, lambda: shown(carrier))

    @blp.arguments(update_schema(RegistrationSchema))
    @blp.write_response(RegistrationSchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, registration_id):
        """Edit a registration until it is reviewed (its submitting organisation's partners, or
        the bureau admin)

        Organisations are named as on submission; the submitting organisation stays named
        (403). Other partners named on the registration may read it but not edit it (403).
        After the review the registration is a carrier like any other: 409.
        """
        carrier = get_visible(registration_id)
        who = access.require_registration_editor(carrier)
        expected = blp.expected_version(registration_id)
        return answer(registrations.edit(registration_id, data, who, expected))

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, registration_id):
        """Withdraw a registration before review (its submitting organisation's partners, or
        the bureau admin; If-Match required)

        The registration is deleted, with one audit record (action `delete`) and a
        `registration.withdrawn` event. After the review it is a carrier like any other: 409.
        """
        carrier = get_visible(registration_id)
        access.require_registration_editor(carrier)
        registrations.withdraw(registration_id, blp.expected_version(registration_id))
        return None


@blp.route("/<id:registration_id>/approve")
class RegistrationApproval(MethodView):
    @blp.arguments(ApprovalSchema)
    @blp.write_response(RegistrationSchema)
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
    @blp.write_response(RegistrationSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, data, registration_id):
        """Reject a registration with a reason (bureau admin)

        Its status becomes `rejected` and the reason its `review_comment`. A registration is
        reviewed once: reviewing it again is a 409.
        """
        access.require_admin()
        carrier = get_visible(registration_id)
        return answer(registrations.reject(carrier, data["reason"].strip()))
