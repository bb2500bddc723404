"""/vocabulary: every code list with its labels, so clients never hard-code them."""

from __future__ import annotations

import hashlib
import json

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from registry.api.common import ETAG_HEADER, IF_NONE_MATCH_PARAMETER, not_modified
from registry.code_lists import code_lists
from schemas.vocabulary import VocabularySchema

blp = Blueprint(
    "vocabulary",
    __name__,
    url_prefix="/api/v1/vocabulary",
    description="The codes of every enumerated field and their display labels (SPEC §2), "
    "including this city's level labels and towns. Public: no token needed.",
)

#: Seconds a client or a shared cache may keep the vocabulary without asking again: it
#: changes only with a release or a configuration change.
MAX_AGE = 3600
CACHE_CONTROL = {
    "description": f"`public, max-age={MAX_AGE}`: the vocabulary changes only with a "
    "release or the configuration.",
    "schema": {"type": "string"},
}


@blp.route("")
class Vocabulary(MethodView):
    @blp.doc(parameters=[IF_NONE_MATCH_PARAMETER], security=[{}])
    @blp.response(
        200, VocabularySchema, headers={"ETag": ETAG_HEADER, "Cache-Control": CACHE_CONTROL}
    )
    @blp.alt_response(
        304,
        description="Not modified: the ETag in If-None-Match is current",
        headers={"ETag": ETAG_HEADER},
    )
    def get(self):
        """Every code list with its labels"""
        body = code_lists(current_app.config)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        headers = {
            "ETag": f'"vocabulary-{digest[:16]}"',
            "Cache-Control": f"public, max-age={MAX_AGE}",
        }
        if not_modified(headers["ETag"]):
            return "", 304, headers
        return body, 200, headers
