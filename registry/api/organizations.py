"""/organizations: host and partner organisations."""

from __future__ import annotations

from flask.views import MethodView

from registry import access, names, organizations
from registry.api.common import ResourceBlueprint, error_responses, sort_columns
from registry.models import Organization
from schemas.common import update_schema
from schemas.organizations import OrganizationQueryArgsSchema, OrganizationSchema

blp = ResourceBlueprint(
    "organizations",
    __name__,
    url_prefix="/api/v1/organizations",
    description="Host and partner organisations (enterprises, universities, parks…).",
    etag_prefix="o",
)

SORTS = sort_columns(OrganizationQueryArgsSchema, Organization, name=Organization.sort_key)


def visible_organizations():
    """The bureau reads every organisation; operators and partners their own."""
    who = access.require_reader()
    query = Organization.select()
    if not access.is_bureau(who):
        query = query.where(Organization.id.in_(list(access.organisations_of(who)) or [-1]))
    return query


def get_visible(org_id: int) -> Organization:
    return blp.get_or_404(visible_organizations(), org_id, "organisation")


@blp.route("")
class Organizations(MethodView):
    @blp.listing(OrganizationQueryArgsSchema, OrganizationSchema(many=True), 401, 403)
    def get(self, args):
        """List organisations (the bureau sees all, others their own)"""
        query = visible_organizations()
        if "kind" in args:
            query = query.where(Organization.kind == args["kind"])
        if "town" in args:
            query = query.where(Organization.town == args["town"])
        if args.get("uscc"):
            query = query.where(Organization.uscc == args["uscc"])
        if "q" in args:
            query = query.where(names.matches(Organization.search_key, args["q"]))
        return blp.page(
            query,
            args,
            lambda rows: [organizations.as_dict(org) for org in rows],
            SORTS,
            Organization.sort_key,
        )

    @blp.arguments(OrganizationSchema)
    @blp.write_response(OrganizationSchema, 201)
    @error_responses(blp, 400, 401, 403, 409, 413)
    def post(self, data):
        """Create an organisation (bureau admin)"""
        access.require(access.BUREAU_ADMIN)
        org = organizations.create_organization(data)
        return blp.created(organizations.as_dict(org), org)


@blp.route("/<id:org_id>")
class OrganizationsById(MethodView):
    @blp.read_response(OrganizationSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, org_id):
        """Get one organisation (with its ETag)"""
        org = get_visible(org_id)
        return blp.read(org, lambda: organizations.as_dict(org))

    @blp.arguments(update_schema(OrganizationSchema))
    @blp.write_response(OrganizationSchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, org_id):
        """Edit an organisation (bureau admin; an operator its own address and contact;
        If-Match required)

        An operator of the organisation may change `address` and `contact` only: a body
        naming any other field is a 403 that names them.
        """
        access.require(access.BUREAU_ADMIN, access.OPERATOR)
        org = get_visible(org_id)
        access.require_organization_editor(org.id, data)
        org = organizations.update_organization(org_id, data, blp.expected_version(org_id))
        return blp.written(organizations.as_dict(org), org)

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, org_id):
        """Delete an organisation that hosts and partners no carrier (bureau admin)"""
        access.require(access.BUREAU_ADMIN)
        get_visible(org_id)
        organizations.delete_organization(org_id, blp.expected_version(org_id))
        return None
