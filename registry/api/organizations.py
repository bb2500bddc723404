"""/organizations: host and partner organisations."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, organizations
from registry.api.common import (
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate,
    read_with_etag,
)
from registry.db import apply_sort
from registry.models import Organization
from schemas.common import update_schema
from schemas.organizations import OrganizationQueryArgsSchema, OrganizationSchema

blp = Blueprint(
    "organizations",
    __name__,
    url_prefix="/api/v1/organizations",
    description="Host and partner organisations (enterprises, universities, parks…).",
)

SORTS = {
    name: getattr(Organization, name)
    for name in ("name", "kind", "town", "created_at", "updated_at")
}
ETAG = "o"


def visible_organizations():
    """The bureau reads every organisation; operators and partners their own."""
    who = access.require_reader()
    query = Organization.select()
    if not access.is_bureau(who):
        query = query.where(Organization.id.in_(list(access.organisations_of(who)) or [-1]))
    return query


def get_visible(org_id: int) -> Organization:
    org = visible_organizations().where(Organization.id == org_id).first()
    if org is None:
        abort(404, message=f"No organisation {org_id}.")
    return org


@blp.route("")
class Organizations(MethodView):
    @blp.arguments(OrganizationQueryArgsSchema, location="query")
    @blp.response(
        200,
        OrganizationSchema(many=True),
        headers={
            "X-Total-Count": {"description": "Items in all pages", "schema": {"type": "integer"}},
            "Link": {"description": "RFC 8288 first/prev/next/last", "schema": {"type": "string"}},
        },
    )
    @error_responses(blp, 401, 403)
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
            query = query.where(Organization.name.contains(args["q"]))
        query = apply_sort(query, args.get("sort"), SORTS, Organization.name)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [organizations.as_dict(org) for org in rows], 200, headers

    @blp.arguments(OrganizationSchema)
    @blp.response(201, OrganizationSchema)
    @error_responses(blp, 400, 401, 403, 409, 413)
    def post(self, data):
        """Create an organisation (bureau admin)"""
        access.require(access.BUREAU_ADMIN)
        org = organizations.create_organization(data)
        return (
            organizations.as_dict(org),
            201,
            {"ETag": etag_of(ETAG, org), "Location": f"{blp.url_prefix}/{org.id}"},
        )


@blp.route("/<id:org_id>")
class OrganizationsById(MethodView):
    @blp.response(200, OrganizationSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, org_id):
        """Get one organisation (with its ETag)"""
        org = get_visible(org_id)
        return read_with_etag(ETAG, org, lambda: organizations.as_dict(org))

    @blp.arguments(update_schema(OrganizationSchema))
    @blp.response(200, OrganizationSchema)
    @etag_protected(blp)
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
        check_if_match(ETAG, org)
        org = organizations.update_organization(org, data)
        return organizations.as_dict(org), 200, {"ETag": etag_of(ETAG, org)}

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, org_id):
        """Delete an organisation that hosts and partners no carrier (bureau admin)"""
        access.require(access.BUREAU_ADMIN)
        org = get_visible(org_id)
        check_if_match(ETAG, org)
        organizations.delete_organization(org)
        return None
